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
from tests.conftest import HeldSandbox, wait_until
from tests.integration.conftest import TERMINAL, App, wait_for_items
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
        seen.append(dict(client.get(f"/api/jobs/{job['id']}").json()))
        return seen[-1] if until(seen[-1]) else None

    return wait_until(reached, timeout, f"job {job['id']} to reach the condition")


def only_workers(start_app: Callable[..., App], **overrides: Any) -> App:
    """An app whose jobs run only in worker processes started by the test."""
    app = start_app(HEARTBEAT_TIMEOUT_SECONDS=3, **overrides)
    app.runtime.stop_worker()
    return app


def taken_over(app: App, job: dict[str, Any]) -> None:
    """Wait until a worker has claimed the job again: its second attempt (or a later one)."""
    def claimed() -> bool:
        row = app.runtime.store.get_job(job["id"])
        assert row is not None
        return row.status == Status.PROCESSING and row.attempts >= 2

    wait_until(claimed, 60, f"job {job['id']} to be taken over")


def test_a_killed_worker_loses_nothing(held_sandbox: HeldSandbox,
                                       start_app: Callable[..., App]) -> None:
    app = only_workers(start_app, apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    keywords = ["fitness coach"]
    job = start(alice, keywords, 800)
    seen: list[dict[str, Any]] = []
    with worker_process(app) as first:
        # The run held at 100 of its items: the worker dies in the middle of reading it.
        run = held_sandbox.run(1)
        held_sandbox.write(run, 100)
        seen.append(wait_for_items(alice, job, 100))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.status == Status.PROCESSING
    assert row.items_offset == 100
    run_id = row.apify_run_id
    assert run_id == run.id
    with worker_process(app):
        # The next worker takes over while the run still goes on, and reads on from there.
        taken_over(app, job)
        held_sandbox.write(run, 400)
        seen.append(wait_for_items(alice, job, 400))
        held_sandbox.finish(run)
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
    assert held_sandbox.state.runs_started == 1
    # At least the second attempt; a worker slower than the heartbeat timeout may be taken
    # over once more, but never with a run of its own.
    assert done.attempts >= 2


def test_sigterm_hands_running_jobs_back(held_sandbox: HeldSandbox,
                                         start_app: Callable[..., App]) -> None:
    app = only_workers(start_app, apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 900)
    seen: list[dict[str, Any]] = []
    with worker_process(app) as first:
        # The run held at 50 of its items: the worker stops in the middle of reading it.
        run = held_sandbox.run(1)
        held_sandbox.write(run, 50)
        seen.append(wait_for_items(alice, job, 50))
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=30)
        assert first.returncode == 0, output
    handed_back = follow(alice, job, lambda s: True, seen)
    assert handed_back["status"] == "pending"
    assert 0 < handed_back["progress"] < 100
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.items_offset == 50  # to resume where it stood
    with worker_process(app):
        taken_over(app, job)
        held_sandbox.finish(run)
        final = follow(alice, job, lambda s: s["status"] in TERMINAL, seen)
    assert final["status"] == "completed"
    assert [s["progress"] for s in seen] == sorted(s["progress"] for s in seen)
    done = app.runtime.store.get_job(job["id"])
    assert done is not None and done.apify_run_id == run.id  # resumed on the same run
    assert held_sandbox.state.runs_started == 1


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
