"""Logs as JSON lines carrying the job they are about, secrets scrubbed; and the counters of a
worker process seen in the `/metrics` of a separate web process (multi-process mode)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from scrapetrack.config import Settings
from scrapetrack.logs import configure_logging, job_context
from tests.conftest import free_port, sign_in_by_link, sign_in_url_in, wait_until
from tests.integration.conftest import wait_for_job
from tests.integration.test_cli import SCRAPETRACK, env_for, run
from tests.integration.test_metrics import scrape, value


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def test_json_and_text_lines_carry_the_job(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    log = logging.getLogger("scrapetrack.test")
    with job_context(job_id="j1", campaign_id="c1"):
        with job_context(apify_run_id="r1"):
            log.info("page of %d items", 3)
        log.warning("GET /login?code=abc123secret&x=1 with Bearer st_abcdefghijkl")
    log.debug("not at info")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [
        "page of 3 items", "GET /login?code=***&x=1 with Bearer ***"]
    assert lines[0] | {"time": None} == {
        "time": None, "level": "info", "logger": "scrapetrack.test", "message":
        "page of 3 items", "job_id": "j1", "campaign_id": "c1", "apify_run_id": "r1"}
    assert "apify_run_id" not in lines[1] and lines[1]["job_id"] == "j1"

    text = io.StringIO()
    configure_logging("debug", "text", text)
    with job_context(job_id="j2"):
        log.debug("hello")
    assert text.getvalue().rstrip().endswith("scrapetrack.test: hello [job=j2]")
    # auto is text on a terminal only; a StringIO is not one.
    auto = io.StringIO()
    configure_logging("info", "auto", auto)
    log.info("x")
    assert json.loads(auto.getvalue())["message"] == "x"


class Process:
    """A scrapetrack process whose stderr lines are kept."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen([SCRAPETRACK, *args], env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.out: list[str] = []
        assert self.process.stderr is not None and self.process.stdout is not None
        self.threads = [threading.Thread(target=self._pump, args=(pipe, into), daemon=True)
                        for pipe, into in ((self.process.stderr, self.lines),
                                           (self.process.stdout, self.out))]
        for thread in self.threads:
            thread.start()

    @staticmethod
    def _pump(pipe: IO[str], into: list[str]) -> None:
        for line in pipe:
            into.append(line)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def stop(self) -> int:
        self.process.terminate()
        code = self.process.wait(timeout=60)
        for thread in self.threads:
            thread.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            assert pipe is not None
            pipe.close()
        return code


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_processes_log_json_and_share_counters(make_settings: Callable[..., Settings],
                                               tmp_path: Path) -> None:
    settings = make_settings()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = env_for(settings, LOG_FORMAT="json", SECRET_KEY="not-to-be-logged-0123456789")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    assert run(["migrate"], env).returncode == 0
    token = run(["users", "create", "logs@example.com"], env).stdout.splitlines()[-1]
    web = Process(["serve", "--no-worker", "--port", str(port)], env)
    worker = Process(["worker", "--concurrency", "2", "--log-level", "debug"], env)
    try:
        link = wait_until(lambda: sign_in_url_in("".join(web.out), Path.cwd()), 60, "serve")

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 30, "the web process to answer")
        with httpx.Client(base_url=url) as browser:  # the code goes through the access log
            assert sign_in_by_link(browser, link).status_code == 303
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        campaign = api.post("/api/campaigns", json={"name": "logs"}).json()
        job = api.post("/api/scraping/tiktok", json={
            "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 40}).json()
        final, _ = wait_for_job(api, job)
        assert final["status"] == "completed"
        api.close()

        def about_the_job() -> list[dict[str, Any]]:
            return [r for r in worker.records() if r.get("job_id") == job["id"]]

        def the_end() -> dict[str, Any] | None:
            return next((r for r in about_the_job() if "ended completed" in r["message"]), None)

        ended = wait_until(the_end, 30, "the worker to log the job's end")
        assert ended["campaign_id"] == campaign["id"] and ended["apify_run_id"]
        assert ended["level"] == "info" and ended["logger"] == "scrapetrack.worker"
        assert any(r["level"] == "debug" for r in worker.records())  # --log-level debug

        # The worker's Apify calls, counted in its process, in the web process's /metrics.
        samples = scrape(url)
        assert value(samples, "scrapetrack_apify_requests_total", operation="start") == 1
        assert value(samples, "scrapetrack_apify_requests_total", operation="items") >= 1
        assert value(samples, "scrapetrack_jobs", status="completed") == 1
        assert list((settings.data_dir / "metrics").glob("counter_*.db"))
    finally:
        assert worker.stop() == 0
        web.stop()
    web_records = web.records()
    assert any(r["logger"] == "uvicorn.access" for r in web_records)
    everything = "".join(web.lines + worker.lines + web.out)
    code = link.split("code=")[1]
    for secret in (code, token, "not-to-be-logged-0123456789"):
        assert secret not in everything
    assert os.path.exists(settings.data_dir / "metrics")
