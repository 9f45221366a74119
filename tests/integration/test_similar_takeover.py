"""A similar-creators job survives its workers mid-stage: killed while its profile run is
read, killed or stopped while its search run is read. The next worker resumes from the row:
the same Apify runs (no third one), no creator counted twice, progress never going back.

The sandbox holds each run where the test wants the worker to go, however slow the machine."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from scrapetrack.jobs import Stage, Status, stage_progress
from scrapetrack.pipelines.similar import SEARCH_ITEMS_PER_RESULT
from tests.conftest import HeldSandbox
from tests.integration.conftest import TERMINAL, App, wait_for_items
from tests.integration.test_cli import SCRAPETRACK, env_for
from tests.integration.test_crash_safety import follow, only_workers, taken_over
from tests.integration.test_similar_job import SOURCE, search_items, start_similar

pytestmark = pytest.mark.all_stacks


@contextmanager
def worker(app: App) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [SCRAPETRACK, "worker", "--concurrency", "2"],
        env=env_for(app.runtime.settings, HEARTBEAT_TIMEOUT_SECONDS="3"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def held_at_search(held_sandbox: HeldSandbox, alice: httpx.Client, job: dict[str, Any],
                   items: int) -> dict[str, Any]:
    """Let the profile run finish and hold the search run at `items` items: the job's
    status once it has read them."""
    held_sandbox.finish(held_sandbox.run(1))
    held_sandbox.write(held_sandbox.run(2), items)
    status = wait_for_items(alice, job, items)
    assert (status["status"], status["stage"]) == ("processing", "searching"), status
    return status


def finish_and_check(app: App, alice: httpx.Client, job: dict[str, Any],
                     seen: list[dict[str, Any]], held_sandbox: HeldSandbox) -> dict[str, Any]:
    """A second worker takes the job over while the run it stood in is still held; then
    the runs finish and the job completes, each run started once, each item counted once."""
    with worker(app):
        taken_over(app, job)
        held_sandbox.finish(held_sandbox.run(1))  # the profile run, if still held
        follow(alice, job, lambda s: s["stage"] == "searching", seen)
        assert held_sandbox.state.runs_started == 2, "a run was started twice"
        held_sandbox.finish(held_sandbox.run(2))  # the search run
        final = follow(alice, job, lambda s: s["status"] in TERMINAL, seen)
    assert final["status"] == "completed", final
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), "progress went backwards across the takeover"
    assert held_sandbox.state.runs_started == 2, "a run was started twice"
    items, skipped, handles = search_items(app.runtime, job["id"])
    # The whole search run read: processedResults counts the distinct candidates found.
    assert final["processedResults"] == len(handles)
    assert final["skippedItems"] == skipped
    assert final["itemsRead"] == items + skipped
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.stage_state is not None
    creators = app.runtime.store.creators(row.id, by_similarity=True)
    assert {c.handle_key for c in creators} == handles and SOURCE not in handles
    assert sum(c.items_count for c in creators) == items  # every item counted exactly once
    assert all(c.similarity_score is not None for c in creators)
    assert row.stage_state["scored"] == len(creators)
    return final


def test_a_worker_killed_while_reading_the_profile(held_sandbox: HeldSandbox,
                                                   start_app: Callable[..., App]) -> None:
    app = only_workers(start_app, apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start_similar(alice, SOURCE, 60)
    seen: list[dict[str, Any]] = []
    with worker(app) as first:
        # The profile run held at half its posts: the bar stands half-way through the stage.
        profile = held_sandbox.run(1)
        half = profile.plan.stop_after // 2
        held_sandbox.write(profile, half)
        expected = stage_progress(Stage.FETCHING_PROFILE, half, profile.plan.stop_after)
        assert expected > stage_progress(Stage.FETCHING_PROFILE)
        follow(alice, job,
               lambda s: s["stage"] == "fetching_profile" and s["progress"] == expected, seen)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.status == Status.PROCESSING
    assert row.stage == "fetching_profile" and row.apify_run_id == profile.id
    finish_and_check(app, alice, job, seen, held_sandbox)
    done = app.runtime.store.get_job(job["id"])
    assert done is not None and done.stage_state is not None
    assert done.stage_state["profileRunId"] == profile.id  # re-attached, not started again
    # At least the second attempt: a worker slower than the heartbeat timeout may be taken
    # over once more, but never with runs of its own.
    assert done.attempts >= 2


def test_a_worker_killed_while_reading_the_search(held_sandbox: HeldSandbox,
                                                  start_app: Callable[..., App]) -> None:
    app = only_workers(start_app, apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start_similar(alice, SOURCE, 300, "youtube")  # a search run of 600 items
    seen: list[dict[str, Any]] = []
    with worker(app) as first:
        seen.append(held_at_search(held_sandbox, alice, job, 100))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.status == Status.PROCESSING and row.stage == "searching"
    search_run = row.apify_run_id
    assert search_run == held_sandbox.run(2).id
    finish_and_check(app, alice, job, seen, held_sandbox)
    done = app.runtime.store.get_job(job["id"])
    assert done is not None and done.apify_run_id == search_run


def test_sigterm_hands_a_similar_job_back_mid_search(held_sandbox: HeldSandbox,
                                                     start_app: Callable[..., App]) -> None:
    app = only_workers(start_app, apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start_similar(alice, SOURCE, 300)
    seen: list[dict[str, Any]] = []
    with worker(app) as first:
        seen.append(held_at_search(held_sandbox, alice, job, 50))
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=30)
        assert first.returncode == 0, output
    handed_back = follow(alice, job, lambda s: True, seen)
    assert (handed_back["status"], handed_back["stage"]) == ("pending", "searching")
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.items_offset == 50  # to resume where it stood
    assert handed_back["progress"] == stage_progress(Stage.SEARCHING, 50,
                                                     300 * SEARCH_ITEMS_PER_RESULT)
    assert 60 <= handed_back["progress"] < 80
    finish_and_check(app, alice, job, seen, held_sandbox)
    done = app.runtime.store.get_job(job["id"])
    assert done is not None and done.apify_run_id == held_sandbox.run(2).id


def test_a_worker_killed_among_the_lookups(held_sandbox: HeldSandbox,
                                           start_app: Callable[..., App]) -> None:
    """Instagram's candidates are looked up before they are scored: a worker killed while
    a lookup run is read leaves its batch on the row, and the next one re-attaches to that
    run and scores every candidate with its numbers."""
    app = only_workers(start_app, apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start_similar(alice, SOURCE, 40, "instagram")
    seen: list[dict[str, Any]] = []
    with worker(app) as first:
        held_sandbox.finish(held_sandbox.run(1))  # the profile run
        held_sandbox.finish(held_sandbox.run(2))  # the search run
        lookup = held_sandbox.run(3)  # one batch: fewer candidates than a batch holds
        looking = follow(alice, job, lambda s: s["profileLookups"] is not None, seen)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert (looking["stage"], looking["progress"]) == ("processing",
                                                       stage_progress(Stage.PROCESSING))
    total = looking["profileLookups"]["total"]
    assert looking["profileLookups"] == {"total": total, "done": 0, "failed": 0}
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.stage_state is not None
    assert row.apify_run_id == lookup.id and len(row.stage_state["batch"]) == total
    with worker(app):
        taken_over(app, job)
        held_sandbox.finish(lookup)
        final = follow(alice, job, lambda s: s["status"] in TERMINAL, seen)
    assert final["status"] == "completed", final
    assert held_sandbox.state.runs_started == 3, "a lookup run was started twice"
    assert final["profileLookups"] == {"total": total, "done": total, "failed": 0}
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), "progress went backwards across the takeover"
    creators = app.runtime.store.creators(job["id"], by_similarity=True)
    assert len(creators) == total == final["creatorsCount"]
    assert all(c.followers is not None and c.similarity_score is not None for c in creators)
