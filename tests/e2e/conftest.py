"""Real processes and a real browser: `scrapetrack serve` as a user starts it, and Chromium."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import HeldSandbox, free_port, require, wait_until

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCRAPETRACK = Path(sys.executable).with_name("scrapetrack")
# Variables of ours that a developer's shell may set; the served product must not see them.
OURS = ("DATABASE_URL", "QUEUE_URL", "REDIS_URL", "APIFY_TOKEN", "APIFY_API_URL", "SECRET_KEY",
        "HOST", "PORT")


@dataclass
class Served:
    url: str
    sign_in_url: str
    process: subprocess.Popen[str]
    output: list[str]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`scrapetrack serve` in a fresh folder, with no token: the sandbox, as on a first run."""
    with serve(tmp_path, SANDBOX_ITEMS_PER_SECOND="20") as running:
        yield running


@pytest.fixture
def served_on_held(tmp_path: Path, held_sandbox: HeldSandbox) -> Iterator[Served]:
    """The same, its searches run by the test's held sandbox instead of the built-in one."""
    with serve(tmp_path, APIFY_API_URL=held_sandbox.url) as running:
        yield running


@contextmanager
def serve(folder: Path, **extra_env: str) -> Iterator[Served]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    env.update(extra_env)
    process = subprocess.Popen([str(SCRAPETRACK), "serve", "--port", str(port)], cwd=folder,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    sign_in = ""
    deadline = time.monotonic() + 60
    while not sign_in and time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert process.poll() is None, "".join(output)
            continue
        if "/login?code=" in line:
            sign_in = line.split()[-1]
    assert sign_in, "".join(output)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(url), 30, "the server to answer /healthz")
    try:
        yield Served(url, sign_in, process, output)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    require("Chromium", CHROMIUM.exists())
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()
