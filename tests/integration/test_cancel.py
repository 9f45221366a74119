"""Cancelling: the job ends `cancelled`, its Apify run is aborted, nothing is written after."""

from __future__ import annotations

import math
from collections.abc import Callable

from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import RunStatus
from scrapetrack.store.models import utcnow
from tests.conftest import HeldSandbox, wait_until
from tests.integration.conftest import App, wait_for_items, wait_for_job
from tests.integration.test_keyword_job import start


def test_cancel_aborts_the_run_and_stops_all_writes(held_sandbox: HeldSandbox,
                                                    start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start(alice, ["fitness"], 2000)
    # The run held a little way in: the cancel finds the job mid-run, however slow the machine.
    run = held_sandbox.run(1)
    held_sandbox.write(run, 40)
    wait_for_items(alice, job, 40)
    response = alice.post(f"/api/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"] == "Cancelled by the user"

    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.apify_run_id == run.id
    assert row.items_offset == 40
    # The abort reached the sandbox before the answer: the run writes nothing past its 40
    # items, and shows ABORTING while its clock stands still.
    assert run.aborted_at is not None and run.produced(math.inf) == 40
    provider = ApifyProvider("t", app.runtime.settings.resolved_apify_api_url())
    try:
        assert provider.get_run(run.id).status is RunStatus.ABORTING
    finally:
        provider.close()
    # The worker notices at its next write.
    wait_until(lambda: job["id"] not in app.runtime.runner.active,
               what="the worker to let go of the cancelled job")
    after = app.runtime.store.get_job(job["id"])
    assert after is not None
    assert (after.status, after.version, after.items_offset) == (
        "cancelled", row.version, row.items_offset)

    again = alice.post(f"/api/jobs/{job['id']}/cancel")
    assert again.status_code == 202
    assert again.json()["status"] == "cancelled"


def test_cancelling_a_finished_job_is_a_conflict(app: App) -> None:
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 20)
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed"
    response = alice.post(f"/api/jobs/{job['id']}/cancel")
    assert response.status_code == 409
    assert response.json() == {"error": "The job has already ended as completed"}


def test_a_pending_job_can_be_cancelled_before_any_worker_takes_it(app: App) -> None:
    app.runtime.stop_worker()
    alice = app.user("alice@example.com")
    job = start(alice, ["pilates"], 20)
    assert alice.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    now = utcnow()
    assert app.runtime.store.claim(job["id"], "w", now, now) is None  # no worker may run it
