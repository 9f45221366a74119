"""Every Apify fault the sandbox can inject, end to end: API → worker → apify-client → sandbox.

Whatever happens, the job reaches a terminal status with a precise error, never stays in
`processing`, counts every item once, and never pays for a second run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import RunStatus
from scrapetrack.providers.platforms import get_platform
from tests.conftest import HeldSandbox, Sandbox
from tests.integration.conftest import App, wait_for_job
from tests.integration.test_keyword_job import expected_creators, start

# A request of a healthy sandbox never takes this long, however loaded the machine: no start
# is sent twice (a second run), and no request fails that no fault broke.
CLIENT_TIMEOUT = 10
# Fast retries; a stall limit that nothing but a fault left unrecovered can reach.
PATIENT = {"apify_max_retries": 2, "apify_timeout_seconds": CLIENT_TIMEOUT,
           "STALL_TIMEOUT_SECONDS": 60}
# Where the test is about the stall: a short limit, so the persistent faults end in seconds.
STALLING = {**PATIENT, "STALL_TIMEOUT_SECONDS": 4}


def run_with(start_app: Callable[..., App], sandbox: Sandbox, fault: str, target: int = 120,
             **settings: Any) -> tuple[App, dict[str, Any]]:
    app = start_app(**{**STALLING, **settings})
    alice = app.user("alice@example.com")
    runs = sandbox.state.runs_started
    keywords = ["yoga", f"sandbox:fault={fault}"]
    final, seen = wait_for_job(alice, start(alice, keywords, target), timeout=120)
    assert sandbox.state.runs_started == runs + 1, "a job must never start a second run"
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress)
    return app, final


def assert_exact(app: App, final: dict[str, Any]) -> None:
    assert final["status"] == "completed", final
    assert final["progress"] == 100
    job = app.runtime.store.get_job(final["id"])
    assert job is not None and job.keywords is not None
    items, skipped, handles = expected_creators(app.runtime, final["id"])
    assert (final["processedResults"], final["skippedItems"]) == (items, skipped)
    creators = app.runtime.store.creators(final["id"])
    assert sorted(c.handle.lower() for c in creators) == sorted(handles)
    assert sum(c.items_count for c in creators) == items


@pytest.mark.parametrize("fault", [
    "items:429x2",            # rate limited, then fine: apify-client retries
    "items:503x2",            # a passing outage
    "runs:500x2",             # the run's status endpoint failing for a while
    "items:reset/4",          # every fourth items request dropped without an answer
    "items:slow60x1",         # one answer far slower than the client waits
    "items:malformed+1x2",    # not JSON, twice
    "items:truncated+1x1",    # JSON cut short
    "items:mismatch+1x1",     # headers that disagree with the body
])
def test_passing_faults_still_complete_with_exact_counts(
        start_app: Callable[..., App], sandbox: Sandbox, fault: str) -> None:
    injected = sum(sandbox.state.injected.values())
    # Pages of 25: the 120 items take at least six items requests however fast the run goes,
    # so a fault on the 2nd or every 4th request always fires (with the default 500 a fast
    # run is read in two or three).
    app, final = run_with(start_app, sandbox, fault, page_size=25, **PATIENT)
    assert sum(sandbox.state.injected.values()) > injected, "the fault never fired"
    assert_exact(app, final)


def test_items_that_are_not_objects_are_counted_and_skipped(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    """Every other item of every page arrives as something that is not an object: each is
    read and skipped, and every object is ingested once (no page is read twice)."""
    app = start_app(**PATIENT, apify_api_url=held_sandbox.url, page_size=25)
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga", "sandbox:fault=items:nonobjects"], 120)
    # The run shows no items until the test lets it write them all at once: then it is read
    # in whole pages of 25 from offset 0, so which items arrive broken is known.
    run = held_sandbox.run(1)
    held_sandbox.finish(run)
    final, seen = wait_for_job(alice, job, timeout=120)
    assert final["status"] == "completed", final
    assert held_sandbox.state.runs_started == 1
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress)

    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.keywords is not None
    written = run.items(0, run.plan.stop_after)  # as the run wrote them, with no fault
    platform = get_platform(row.platform)
    objects = [item for offset, item in enumerate(written) if offset % 25 % 2 == 0]
    served = [c for item in objects if (c := platform.normalize(item, row.keywords)) is not None]
    assert (final["processedResults"], final["skippedItems"]) == (
        len(served), len(written) - len(served))
    creators = app.runtime.store.creators(job["id"])
    assert sorted(c.handle.lower() for c in creators) == sorted({c.key[1] for c in served})
    assert sum(c.items_count for c in creators) == len(served)


def test_a_persistent_outage_ends_as_timeout_with_the_reason(
        start_app: Callable[..., App], sandbox: Sandbox) -> None:
    _, final = run_with(start_app, sandbox, "items:503")
    assert final["status"] == "timeout"
    assert "STALL_TIMEOUT_SECONDS" in final["error"] and "503" in final["error"]


def assert_aborted(app: App, job_id: str) -> None:
    job = app.runtime.store.get_job(job_id)
    assert job is not None and job.apify_run_id is not None
    provider = ApifyProvider("t", app.runtime.settings.resolved_apify_api_url())
    try:
        status = provider.get_run(job.apify_run_id).status
    finally:
        provider.close()
    assert status in (RunStatus.ABORTING, RunStatus.ABORTED)


def test_a_run_that_never_yields_ends_as_timeout(start_app: Callable[..., App],
                                                  sandbox: Sandbox) -> None:
    app, final = run_with(start_app, sandbox, "run:silent")
    assert final["status"] == "timeout"
    assert "yielded no new items" in final["error"]
    assert_aborted(app, final["id"])


def test_a_run_that_never_finishes_ends_as_timeout_after_its_items(
        start_app: Callable[..., App], sandbox: Sandbox) -> None:
    _, final = run_with(start_app, sandbox, "run:never-finish", target=50)
    assert final["status"] == "timeout"
    assert final["processedResults"] > 0
    assert final["progress"] < 100


def test_a_job_longer_than_its_limit_ends_as_timeout(start_app: Callable[..., App],
                                                     sandbox: Sandbox) -> None:
    app, final = run_with(start_app, sandbox, "run:silent", JOB_TIMEOUT_SECONDS=2,
                          STALL_TIMEOUT_SECONDS=60)
    assert final["status"] == "timeout"
    assert "JOB_TIMEOUT_SECONDS" in final["error"]
    assert_aborted(app, final["id"])


def test_a_rejected_start_ends_in_error(start_app: Callable[..., App],
                                        sandbox: Sandbox) -> None:
    app = start_app(apify_actor_tiktok="nobody~no-such-actor")
    alice = app.user("alice@example.com")
    final, _ = wait_for_job(alice, start(alice, ["yoga"], 10))
    assert final["status"] == "error"
    assert "no-such-actor" in final["error"]
