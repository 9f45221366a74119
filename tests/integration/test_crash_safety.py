"""Jobs survive their workers: SIGKILL mid-job, SIGTERM mid-job, and lost queue entries."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from scrapetrack.jobs import Status
from tests.conftest import wait_until
from tests.integration.conftest import TERMINAL, App
from tests.integration.test_cli import SCRAPETRACK, env_for
from tests.integration.test_keyword_job import expected_creators, start

pytestmark = pytest.mark.all_stacks


@contextmanager
def worker_process(app: App, concurrency: int = 4) -> Iterator[subprocess.Popen[str]]:
    env = env_for(app.runtime.settings, HEARTBEAT_TIMEOUT_SECONDS="3")
    process = subprocess.Popen([SCRAPETRACK, "worker", "--concurrency", str(concurrency)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def follow(client: httpx.Client, job: dict[str, Any], until: Callable[[dict[str, Any]], bool],
           seen: list[dict[str, Any]], timeout: float = 90) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        seen.append(dict(client.get(f"/api/scraping/{job['platform']}",
                                    params={"jobId": job["id"]}).json()))
        return seen[-1] if until(seen[-1]) else None

    return wait_until(reached, timeout, f"job {job['id']} to reach the condition")


def only_workers(start_app: Callable[..., App]) -> App:
    """An app whose jobs run only in worker processes started by the test."""
    app = start_app(HEARTBEAT_TIMEOUT_SECONDS=3)
    app.runtime.stop_worker()
    return app


def test_a_killed_worker_loses_nothing(start_app: Callable[..., App]) -> None:
    app = only_workers(start_app)
    alice = app.user("alice@example.com")
    keywords = ["fitness coach"]
    job = start(alice, keywords, 800)
    seen: list[dict[str, Any]] = []
    with worker_process(app) as first:
        follow(alice, job, lambda s: s["processedResults"] >= 100, seen)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.status == Status.PROCESSING
    run_id = row.apify_run_id
    assert run_id is not None
    with worker_process(app):
        final = follow(alice, job, lambda s: s["status"] in TERMINAL, seen)
    assert final["status"] == "completed", final
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), "progress went backwards across the takeover"
    items, skipped, handles = expected_creators(app.runtime, job["id"])
    assert final["processedResults"] == items
    assert final["skippedItems"] == skipped
    results = alice.get(f"/api/jobs/{job['id']}/results").json()
    assert sorted(r["handle"].lower() for r in results) == sorted(handles)
    assert sum(r["videos"] for r in results) == items  # every item counted exactly once
    done = app.runtime.store.get_job(job["id"])
    assert done is not None
    assert done.apify_run_id == run_id  # re-attached: no second, paid run
    assert done.attempts == 2


def test_sigterm_hands_running_jobs_back(start_app: Callable[..., App]) -> None:
    app = only_workers(start_app)
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 900)
    seen: list[dict[str, Any]] = []
    with worker_process(app) as first:
        follow(alice, job, lambda s: s["processedResults"] >= 50, seen)
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=30)
        assert first.returncode == 0, output
    handed_back = follow(alice, job, lambda s: True, seen)
    assert handed_back["status"] == "pending"
    assert 0 < handed_back["progress"] < 100
    with worker_process(app):
        final = follow(alice, job, lambda s: s["status"] in TERMINAL, seen)
    assert final["status"] == "completed"
    assert [s["progress"] for s in seen] == sorted(s["progress"] for s in seen)


def test_a_job_whose_queue_entry_was_lost_still_runs(start_app: Callable[..., App]) -> None:
    app = only_workers(start_app)
    alice = app.user("alice@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "c"}).json()
    user = app.runtime.store.user_by_email("alice@example.com")
    assert user is not None
    # The row was saved, then the process died before queueing it.
    job = app.runtime.store.create_job(campaign_id=campaign["id"], user_id=user.id,
                                       platform="tiktok", keywords=["pilates"],
                                       target_results=30)
    assert app.runtime.queue.queued_job_ids() == []
    with worker_process(app):
        final = follow(alice, {"id": job.id, "platform": "tiktok"},
                       lambda s: s["status"] in TERMINAL, [])
    assert final["status"] == "completed"
