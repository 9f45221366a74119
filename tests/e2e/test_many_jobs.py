"""One worker process carries 1,000 jobs, then 300 running at once, without leaking threads or
database connections: its threads and connections are the same few however many jobs run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from scrapetrack.access import Actor
from scrapetrack.config import Settings
from scrapetrack.jobs import Status
from scrapetrack.runtime import build_runtime
from scrapetrack.service import SearchRequest
from tests.conftest import wait_until
from tests.e2e.conftest import SCRAPETRACK

JOBS = 1000
CONCURRENCY = 300
# The jobs' loop, the store's and the consumer's threads, the schedulers: a fixed set,
# whatever the number of running jobs.
MAX_THREADS = 30
MAX_CONNECTIONS = 24


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


def connections(database_url: str) -> int | None:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    with psycopg.connect(url.set(drivername="postgresql", database="postgres")
                         .render_as_string(hide_password=False)) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                           (url.database,)).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.timeout(1200)  # its own deadlines, not the suite's per-test limit, decide
def test_a_thousand_jobs_leak_nothing(make_settings: Callable[..., Settings]) -> None:
    # A thousand jobs from one user at once: the per-user limits are the operator's to lift.
    settings = make_settings(WORKER_POLL_INTERVAL_SECONDS=0.1, JOB_RATE_LIMIT_PER_MINUTE=0,
                             MAX_ACTIVE_JOBS_PER_USER=0)
    runtime = build_runtime(settings, migrate=True, embedded_worker=False)
    env = dict(os.environ)
    env.update({"DATABASE_URL": settings.database_url, "QUEUE_URL": settings.queue_url,
                "REDIS_URL": settings.redis_url or "", "QUEUE_NAME": settings.queue_name,
                "APIFY_API_URL": settings.resolved_apify_api_url(), "APIFY_TOKEN": "sandbox",
                "WORKER_POLL_INTERVAL_SECONDS": "0.1"})
    worker = subprocess.Popen([SCRAPETRACK, "worker", "--concurrency", str(CONCURRENCY)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        user = runtime.accounts.create_user("bulk@example.com").user
        campaign = runtime.store.create_campaign(user.id, "bulk", None)
        ids = [runtime.service.start_search(Actor(user.id, user.email), SearchRequest(
            platform="tiktok", campaign_id=campaign.id, keywords=[f"k{i % 50}"],
            target_results=5)).id for i in range(JOBS)]

        def finished() -> int:
            return sum(Status(j.status).terminal for j in runtime.store.job_states(ids))

        wait_until(lambda: finished() >= JOBS // 5, 300, "the first fifth of the jobs")
        warm_threads, warm_connections = threads(worker.pid), connections(settings.database_url)
        peaks = [warm_threads, warm_connections or 0]

        def all_ended() -> bool:  # and the peaks of threads and connections on the way
            peaks[0] = max(peaks[0], threads(worker.pid))
            peaks[1] = max(peaks[1], connections(settings.database_url) or 0)
            return finished() >= JOBS

        wait_until(all_ended, 600, f"all {JOBS} jobs to end")
        peak_threads, peak_connections = peaks
        statuses = {j.status for j in runtime.store.job_states(ids)}
        assert statuses == {"completed"}
        # Idle again: what is left is the pool and the consumer's fixed threads.
        assert threads(worker.pid) <= warm_threads + 2
        assert peak_threads <= MAX_THREADS
        if warm_connections is not None:
            assert peak_connections <= MAX_CONNECTIONS
            assert (connections(settings.database_url) or 0) <= warm_connections + 4
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        runtime.close()
