"""Logs as JSON lines carrying the job they are about, secrets scrubbed; and the counters of a
worker process seen in the `/metrics` of a separate web process (multi-process mode)."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import httpx
import pytest

from scrapetrack.config import Settings
from scrapetrack.exceptions import ConfigError
from scrapetrack.logs import configure_logging, job_context, job_fields, resolve_format
from scrapetrack.reaper import reap
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

    console = io.StringIO()
    configure_logging("debug", "console", console)
    with job_context(job_id="3f6c1a52-0000-4000-8000-000000000001"):
        log.debug("hello")
    assert console.getvalue().rstrip().endswith(" DEBUG hello  job=3f6c1a52")
    # "text" is the earlier name of console, still accepted.
    text = io.StringIO()
    configure_logging("info", "text", text)
    log.info("x")
    assert not text.getvalue().startswith("{") and " INFO  x" in text.getvalue()
    # auto is console on a terminal only; a StringIO is not one.
    auto = io.StringIO()
    configure_logging("info", "auto", auto)
    log.info("x")
    assert json.loads(auto.getvalue())["message"] == "x"
    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of auto, json, console"):
        configure_logging("info", "xml", io.StringIO())


def test_auto_is_console_on_a_terminal(restore_logging: None) -> None:
    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as terminal, os.fdopen(leader, "rb", buffering=0) as screen:
        assert resolve_format("auto", terminal) == "console"
        configure_logging("info", "auto", terminal)
        job = SimpleNamespace(id="3f6c1a52-9d1e-4c4b-9a43-2f1de0c1a0b7", user_id="u-7",
                              campaign_id="c-1", platform="tiktok", status="completed",
                              processed_results=200, creators_count=143, cost_usd=0.42)
        logging.getLogger("scrapetrack.worker").info(
            "job %s ended completed: 200 items, 143 creators, $0.42", job.id,
            extra=job_fields(job))
        terminal.flush()
        line = screen.read(4096).decode()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO  job 3f6c1a52 ended completed: 200 items, 143 creators, "
        r"\$0\.42  user=u-7 campaign=c-1 platform=tiktok status=completed processed=200 "
        r"creators=143 cost_usd=0\.42\r?\n", line), line
    assert resolve_format("auto", io.StringIO()) == "json"


def test_level_is_honoured_and_routine_lines_are_debug(restore_logging: None) -> None:
    """The reaper finding nothing and Huey's per-task lines are debug: gone at info, there
    at debug; Huey's warnings stay; the access log's health probes are debug too."""
    class NoOrphans:
        def orphans(self, *_: object) -> list[str]:
            return []

    def talk() -> list[dict[str, Any]]:
        reap(NoOrphans(), list, lambda _: None, 30)  # type: ignore[arg-type]
        logging.getLogger("huey").info("Executing %s", "scrapetrack.worker.run_job: 1")
        logging.getLogger("huey").warning("Task %s timed out after %ss.", "1", 5)
        access = logging.getLogger("uvicorn.access")
        for path in ("/healthz", "/api/jobs"):
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", path, "1.1", 200)
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    stream = io.StringIO()
    configure_logging("info", "json", stream)
    assert [(r["logger"], r["level"]) for r in talk()] == [
        ("huey", "warning"), ("uvicorn.access", "info")]
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    assert [(r["logger"], r["level"], r["message"][:9]) for r in talk()] == [
        ("scrapetrack.reaper", "debug", "reaper: n"), ("huey", "debug", "Executing"),
        ("huey", "warning", "Task 1 ti"), ("uvicorn.access", "debug", "127.0.0.1"),
        ("uvicorn.access", "info", "127.0.0.1")]


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


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_an_idle_server_is_quiet_and_a_job_says_each_transition_once(
        make_settings: Callable[..., Settings]) -> None:
    """`serve` with nothing to do logs nothing periodic at info over several reaper periods;
    a job then makes exactly three info lines (created, started, ended) with its fields,
    and Huey's own lines come out as our JSON."""
    settings = make_settings()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A reaper period of one second (a third of the heartbeat timeout).
    env = env_for(settings, LOG_FORMAT="json", LOG_LEVEL="debug",
                  HEARTBEAT_TIMEOUT_SECONDS="3")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    assert run(["migrate"], env).returncode == 0
    token = run(["users", "create", "quiet@example.com"], env).stdout.splitlines()[-1]
    server = Process(["serve", "--port", str(port)], env)
    try:
        def started() -> int | None:
            records = server.records()
            return next((i for i, r in enumerate(records)
                         if r["message"].startswith("Uvicorn running")), None)

        first = wait_until(started, 60, "the server to start")

        def idle_periods() -> list[dict[str, Any]] | None:
            after = server.records()[first + 1:]
            reaped = [r for r in after if r["message"] == "reaper: no orphaned jobs"]
            swept = [r for r in after if r["message"] == "sweep: nothing forgotten"]
            return after if len(reaped) >= 3 and swept else None

        idle = wait_until(idle_periods, 30, "three idle reaper periods and a sweep")
        assert [r for r in idle if r["level"] != "debug"] == []

        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        campaign = api.post("/api/campaigns", json={"name": "quiet"}).json()
        job = api.post("/api/scraping/tiktok", json={
            "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 40}).json()
        final, _ = wait_for_job(api, job)
        assert final["status"] == "completed"
        api.close()

        def ended() -> list[dict[str, Any]] | None:
            # Ours: at debug level the HTTP client's own request lines say info too.
            lines = [r for r in server.records() if r.get("job_id") == job["id"]
                     and r["level"] == "info" and r["logger"].startswith("scrapetrack")]
            return lines if any("ended" in r["message"] for r in lines) else None

        lines = wait_until(ended, 30, "the job's end line")
    finally:
        server.stop()
    assert [r["message"].split(":")[0] for r in lines] == [
        f"job {job['id']} created", f"job {job['id']} started on tiktok (attempt 1)",
        f"job {job['id']} ended completed"], lines
    for line in lines:
        assert line["user_id"] and line["platform"] == "tiktok"
        assert line["campaign_id"] == campaign["id"]
    created, began, end = lines
    assert created["status"] == "pending" and began["status"] == "processing"
    assert (end["status"], end["processed"], end["creators"]) == (
        "completed", final["processedResults"], final["creatorsCount"])
    assert end["cost_usd"] == final["costUsd"] and end["apify_run_id"]
    assert len({line["user_id"] for line in lines}) == 1
    records = server.records()
    huey = [r for r in records if r["logger"].startswith("huey")]
    assert any(r["message"].startswith("Huey consumer started") for r in huey)
    executing = [r for r in huey if r["message"].startswith("Executing")]
    assert executing and {r["level"] for r in executing} == {"debug"}
    assert all(line.startswith("{") for line in server.lines if line.strip())
