"""Scaled out: two `serve --no-worker` and two `worker` processes share one store, queue and
bus. 20 jobs run at once; watchers on either web process see every job; a worker killed in
the middle loses nothing."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from scrapetrack.config import Settings
from scrapetrack.jobs import Status
from scrapetrack.runtime import build_runtime
from tests.conftest import free_port, wait_until
from tests.e2e.conftest import SCRAPETRACK
from tests.integration.conftest import TERMINAL
from tests.integration.test_events import sse
from tests.integration.test_keyword_job import expected_creators

JOBS = 20


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([SCRAPETRACK, *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, text=True)


def start_web(env: dict[str, str], logs: Path) -> tuple[subprocess.Popen[str], str]:
    """A `serve --no-worker` process answering on a free port. The port is free when chosen
    but the kernel may hand it to another socket before the server binds it: then the server
    exits at once, and it starts again on another port."""
    for _ in range(3):
        port = free_port()
        log = logs / f"web-{port}.log"
        process = spawn(["serve", "--no-worker", "--port", str(port)], env, log)
        url = f"http://127.0.0.1:{port}"
        wait_until(functools.partial(_up_or_exited, process, url), 60, f"{url} to answer")
        if process.poll() is None:
            return process, url
        if "address already in use" not in log.read_text().lower():
            raise AssertionError(f"the web process exited:\n{log.read_text()[-3000:]}")
    raise AssertionError("no free port held long enough for the web process to bind it")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


@pytest.fixture
def processes(make_settings: Callable[..., Settings]) -> Iterator[dict[str, Any]]:
    settings = make_settings(HEARTBEAT_TIMEOUT_SECONDS=3, secret_key="shared-secret")
    runtime = build_runtime(settings, migrate=True, embedded_worker=False)
    env = dict(os.environ)
    env.update({"DATABASE_URL": settings.database_url, "QUEUE_URL": settings.queue_url,
                "REDIS_URL": settings.redis_url or "", "QUEUE_NAME": settings.queue_name,
                "APIFY_API_URL": settings.resolved_apify_api_url(), "APIFY_TOKEN": "sandbox",
                "SECRET_KEY": "shared-secret", "HEARTBEAT_TIMEOUT_SECONDS": "3",
                "WORKER_POLL_INTERVAL_SECONDS": "0.2",
                "SCRAPETRACK_DATA_DIR": str(settings.data_dir)})
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        workers = [spawn(["worker", "--concurrency", "16"], env, logs / f"worker-{i}.log")
                   for i in range(2)]
        for process in workers:
            stack.callback(stop, process)
        urls = []
        for _ in range(2):
            web, url = start_web(env, logs)
            stack.callback(stop, web)
            urls.append(url)
        token = runtime.accounts.create_user("team@example.com").token
        yield {"urls": urls, "token": token, "workers": workers, "runtime": runtime}
    runtime.close()


def _up_or_exited(process: subprocess.Popen[str], url: str) -> bool:
    return process.poll() is not None or _up(url)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_twenty_jobs_across_two_web_and_two_worker_processes(
        processes: dict[str, Any]) -> None:
    web1, web2 = (httpx.Client(base_url=u, timeout=30, headers={
        "Authorization": f"Bearer {processes['token']}"}) for u in processes["urls"])
    with web1, web2:
        run_twenty(processes, web1, web2)


def run_twenty(processes: dict[str, Any], web1: httpx.Client, web2: httpx.Client) -> None:
    campaign = web1.post("/api/campaigns", json={"name": "scale"}).json()
    seen_by_web2: dict[str, str] = {}

    def watch() -> None:
        with web2.stream("GET", f"/api/campaigns/{campaign['id']}/events") as response:
            for _, data in sse(response):
                seen_by_web2[data["id"]] = data["status"]
                if len(seen_by_web2) == JOBS and set(seen_by_web2.values()) <= TERMINAL:
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    jobs = [web1.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": [f"topic {i}"],
        "targetResults": 600 + 25 * i}).json() for i in range(JOBS)]
    one = jobs[-1]
    job_events: list[dict[str, Any]] = []

    def follow_one() -> None:
        with web1.stream("GET", f"/api/jobs/{one['id']}/events") as response:
            job_events.extend(data for _, data in sse(response))

    follower = threading.Thread(target=follow_one, daemon=True)
    follower.start()

    store = processes["runtime"].store
    busy: set[int] = set()

    def running_somewhere() -> bool:
        busy.update(int(j.worker_id.split(":")[1]) for j in store.campaign_jobs(campaign["id"])
                    if j.status == Status.PROCESSING and j.worker_id)
        return bool(busy)

    wait_until(running_somewhere, 60, "jobs to be running")
    victim = next(w for w in processes["workers"] if w.pid in busy)
    victim.send_signal(signal.SIGKILL)  # in the middle of its jobs
    victim.wait(timeout=10)

    wait_until(lambda: all(Status(j.status).terminal
                           for j in store.campaign_jobs(campaign["id"])), 180,
               "every job to end")
    watcher.join(timeout=30)
    follower.join(timeout=30)
    finals = {j.id: j for j in store.campaign_jobs(campaign["id"])}
    assert {j.status for j in finals.values()} == {"completed"}
    assert seen_by_web2 == {job_id: "completed" for job_id in finals}
    assert job_events and job_events[-1]["status"] == "completed"
    for job in finals.values():
        items, skipped, handles = expected_creators(processes["runtime"], job.id)
        assert (job.processed_results, job.skipped_items) == (items, skipped), job.id
        assert sorted(c.handle.lower() for c in store.creators(job.id)) == sorted(handles)
    assert sum(j.attempts for j in finals.values()) > JOBS  # the killed worker's were taken over
