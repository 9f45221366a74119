"""A similar-creators job survives its workers mid-stage: killed while its profile run is
read, killed or stopped while its search run is read. The next worker resumes from the row:
the same Apify runs (no third one), no creator counted twice, progress never going back."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from scrapetrack.jobs import Status
from tests.conftest import Sandbox
from tests.integration.conftest import TERMINAL, App
from tests.integration.test_cli import SCRAPETRACK, env_for
from tests.integration.test_crash_safety import follow, only_workers
from tests.integration.test_similar_job import SOURCE, search_items, start_similar

pytestmark = pytest.mark.all_stacks


@contextmanager
def worker(app: App, **env: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [SCRAPETRACK, "worker", "--concurrency", "2"],
        env=env_for(app.runtime.settings, HEARTBEAT_TIMEOUT_SECONDS="3", **env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def finish_and_check(app: App, alice: httpx.Client, job: dict[str, Any],
                     seen: list[dict[str, Any]], runs_before: int, sandbox: Sandbox,
                     **env: str) -> dict[str, Any]:
    with worker(app, **env):
        final = follow(alice, job, lambda s: s["status"] in TERMINAL, seen)
    assert final["status"] == "completed", final
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), "progress went backwards across the takeover"
    assert sandbox.state.runs_started - runs_before == 2, "a run was started twice"
    items, skipped, handles = search_items(app.runtime, job["id"])
    assert (final["processedResults"], final["skippedItems"]) == (items, skipped)
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.stage_state is not None
    creators = app.runtime.store.creators(row.id, by_similarity=True)
    assert {c.handle_key for c in creators} == handles and SOURCE not in handles
    assert sum(c.items_count for c in creators) == items  # every item counted exactly once
    assert all(c.similarity_score is not None for c in creators)
    assert row.stage_state["scored"] == len(creators)
    return final


def test_a_worker_killed_while_reading_the_profile(start_app: Callable[..., App],
                                                   sandbox: Sandbox) -> None:
    app = only_workers(start_app)
    alice = app.user("alice@example.com")
    big_profile = {"SIMILAR_PROFILE_POSTS": "600"}  # ~3 s of profile items at the sandbox pace
    runs_before = sandbox.state.runs_started
    job = start_similar(alice, SOURCE, 60)
    seen: list[dict[str, Any]] = []
    with worker(app, **big_profile) as first:
        follow(alice, job, lambda s: s["stage"] == "fetching_profile" and s["progress"] > 20,
               seen)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.status == Status.PROCESSING
    assert row.stage == "fetching_profile" and row.apify_run_id is not None
    profile_run = row.apify_run_id
    finish_and_check(app, alice, job, seen, runs_before, sandbox, **big_profile)
    done = app.runtime.store.get_job(job["id"])
    assert done is not None and done.stage_state is not None
    assert done.stage_state["profileRunId"] == profile_run  # re-attached, not started again
    assert done.attempts == 2


def test_a_worker_killed_while_reading_the_search(start_app: Callable[..., App],
                                                  sandbox: Sandbox) -> None:
    app = only_workers(start_app)
    alice = app.user("alice@example.com")
    runs_before = sandbox.state.runs_started
    job = start_similar(alice, SOURCE, 300, "youtube")  # a search run of 600 items
    seen: list[dict[str, Any]] = []
    with worker(app) as first:
        follow(alice, job, lambda s: s["stage"] == "searching" and s["processedResults"] >= 100,
               seen)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.stage == "searching"
    search_run = row.apify_run_id
    finish_and_check(app, alice, job, seen, runs_before, sandbox)
    done = app.runtime.store.get_job(job["id"])
    assert done is not None and done.apify_run_id == search_run


def test_sigterm_hands_a_similar_job_back_mid_search(start_app: Callable[..., App],
                                                     sandbox: Sandbox) -> None:
    app = only_workers(start_app)
    alice = app.user("alice@example.com")
    runs_before = sandbox.state.runs_started
    job = start_similar(alice, SOURCE, 300, "instagram")
    seen: list[dict[str, Any]] = []
    with worker(app) as first:
        follow(alice, job, lambda s: s["stage"] == "searching" and s["processedResults"] >= 50,
               seen)
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=30)
        assert first.returncode == 0, output
    handed_back = follow(alice, job, lambda s: True, seen)
    assert (handed_back["status"], handed_back["stage"]) == ("pending", "searching")
    assert 60 <= handed_back["progress"] < 80
    finish_and_check(app, alice, job, seen, runs_before, sandbox)
