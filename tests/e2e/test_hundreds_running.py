"""One worker process keeps 300 running jobs moving on the same few threads, and loses none of
them when they are all cancelled."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from scrapetrack.access import Actor
from scrapetrack.config import Settings
from scrapetrack.jobs import Status
from scrapetrack.providers.base import RunStatus
from scrapetrack.runtime import build_runtime
from scrapetrack.service import SearchRequest
from tests.conftest import Sandbox, wait_until
from tests.e2e.conftest import SCRAPETRACK
from tests.e2e.test_many_jobs import MAX_THREADS, threads

RUNNING = 300


@pytest.mark.timeout(900)
def test_one_worker_drives_three_hundred_runs(make_settings: Callable[..., Settings],
                                              sandbox: Sandbox) -> None:
    settings = make_settings(JOB_RATE_LIMIT_PER_MINUTE=0, MAX_ACTIVE_JOBS_PER_USER=0)
    runtime = build_runtime(settings, migrate=True, embedded_worker=False)
    env = dict(os.environ)
    env.update({"DATABASE_URL": settings.database_url, "QUEUE_URL": settings.queue_url,
                "REDIS_URL": settings.redis_url or "", "QUEUE_NAME": settings.queue_name,
                "APIFY_API_URL": settings.resolved_apify_api_url(), "APIFY_TOKEN": "sandbox"})
    worker = subprocess.Popen([SCRAPETRACK, "worker", "--concurrency", str(RUNNING)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        user = runtime.accounts.create_user("many@example.com").user
        actor = Actor(user.id, user.email)
        campaign = runtime.store.create_campaign(user.id, "many at once", None)
        # Each run writes two items, then stays RUNNING: the jobs wait on their runs together.
        ids = [runtime.service.start_search(actor, SearchRequest(
            platform="tiktok", campaign_id=campaign.id, target_results=10,
            keywords=[f"topic {i}", "sandbox:fault=run:never-finish+2"])).id
            for i in range(RUNNING)]

        def all_moving() -> bool:
            return all(job.status == Status.PROCESSING and job.items_offset >= 2
                       for job in runtime.store.job_states(ids))

        wait_until(all_moving, 300, f"all {RUNNING} jobs running with their first items")
        assert threads(worker.pid) <= MAX_THREADS
        # They keep being looked at, every one: a quiet run's reads back off to a few
        # seconds apart, so within a minute each of the 300 runs is read several times.
        read = sandbox.state.requests["items"]
        wait_until(lambda: sandbox.state.requests["items"] - read >= 3 * RUNNING, 60,
                   "three reads per running job")
        assert threads(worker.pid) <= MAX_THREADS

        for job_id in ids:
            runtime.service.cancel_job(actor, job_id)
        wait_until(lambda: all(job.status == Status.CANCELLED
                               for job in runtime.store.job_states(ids)), 60,
                   "every job cancelled")
        runs = {job.apify_run_id for job in runtime.store.job_states(ids)}
        assert len(runs) == RUNNING  # one run each, never a second
        state = sandbox.state
        wait_until(lambda: all(state.run(run_id).status(state.clock()) == RunStatus.ABORTED
                               for run_id in runs if run_id), 60, "every run aborted")
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        runtime.close()
