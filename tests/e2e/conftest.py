"""Real processes and a real browser: `scrapetrack serve` as a user starts it, and Chromium."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import HeldSandbox, free_port, require, sign_in_url_in, wait_until

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
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    def written() -> str | None:
        assert process.poll() is None, "".join(output)
        return sign_in_url_in("".join(output), folder)

    threading.Thread(target=pump, daemon=True).start()
    # Without a terminal, the sign-in link goes to a file only its owner reads.
    sign_in = wait_until(written, 60, "the sign-in link")
    assert not any("/login?code=" in line for line in output), "".join(output)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _healthy(url), 30, "the server to answer /healthz")
    try:
        yield Served(url, sign_in, process, output)
    finally:
        stop(process)
        assert process.stdout is not None
        process.stdout.close()


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, as a service manager stops it; killed if it has not ended within 30 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
