"""A schedule fires exactly once per cron time however many worker processes tick: two
`scrapetrack worker` processes on PostgreSQL + Redis (as scaled out), a schedule every
minute, three minutes in a row. The claim is the job's unique (schedule, time) in the store;
this watches it hold across real processes and clocks."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from scrapetrack.access import Actor
from scrapetrack.config import Settings
from scrapetrack.runtime import Runtime, build_runtime
from scrapetrack.schedules import ScheduleSpec
from scrapetrack.store.models import Schedule, ScrapingJob
from tests.conftest import wait_until
from tests.e2e.test_scale_out import spawn, stop

MINUTES = 3


@pytest.fixture
def two_workers(make_settings: Callable[..., Settings]) -> Iterator[tuple[Runtime, Path]]:
    settings = make_settings()
    runtime = build_runtime(settings, migrate=True, embedded_worker=False)
    env = dict(os.environ)
    env.update({"DATABASE_URL": settings.database_url, "QUEUE_URL": settings.queue_url,
                "REDIS_URL": settings.redis_url or "", "QUEUE_NAME": settings.queue_name,
                "APIFY_API_URL": settings.resolved_apify_api_url(), "APIFY_TOKEN": "sandbox",
                "WORKER_POLL_INTERVAL_SECONDS": "0.2", "LOG_FORMAT": "text",
                "SCRAPETRACK_DATA_DIR": str(settings.data_dir)})
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        workers: list[subprocess.Popen[str]] = []
        for i in range(2):
            workers.append(spawn(["worker", "--concurrency", "4"], env, logs / f"w{i}.log"))
            stack.callback(stop, workers[-1])
        for log in (logs / f"w{i}.log" for i in range(2)):
            wait_until(lambda log=log: "started" in log.read_text(),  # type: ignore[misc]
                       60, f"{log.name} to start")
        yield runtime, logs
        assert all(w.poll() is None for w in workers), "a worker died"
    runtime.close()


@pytest.mark.timeout(420)
@pytest.mark.parametrize("stack", ["postgres+redis"], indirect=True)
def test_every_minute_with_two_workers_fires_once_a_minute(
        two_workers: tuple[Runtime, Path]) -> None:
    runtime, logs = two_workers
    user = runtime.accounts.create_user("cron@example.com").user
    actor = Actor(user.id, user.email)
    campaign = runtime.service.create_campaign(actor, "every minute", None)
    schedule = runtime.schedules.create(actor, ScheduleSpec(
        campaign_id=campaign.id, platform="tiktok", cron="* * * * *", keywords=["yoga"],
        target_results=10))
    assert schedule.next_fire_at is not None

    def jobs() -> list[ScrapingJob]:
        with runtime.store.reading() as s:
            return list(s.scalars(select(ScrapingJob).where(
                ScrapingJob.schedule_id == schedule.id).order_by(ScrapingJob.scheduled_for)))

    wait_until(lambda: len({j.scheduled_for for j in jobs()}) >= MINUTES, 60 * MINUTES + 30,
               f"{MINUTES} firings")
    fired = jobs()
    times = [j.scheduled_for for j in fired]
    assert fired and all(t is not None for t in times)
    # Each minute once, none skipped, starting from the schedule's first time.
    assert max(Counter(times).values()) == 1, times
    first = schedule.next_fire_at
    assert times[:MINUTES] == [first + timedelta(minutes=k) for k in range(MINUTES)], times
    for job in fired:  # on time: started within a few seconds of its minute
        assert job.scheduled_for is not None
        assert timedelta(0) <= job.created_at - job.scheduled_for < timedelta(seconds=10), (
            job.created_at, job.scheduled_for)
    # One process started each firing; the other found it claimed (or not due any more).
    # Console lines show ids by their first 8 characters, JSON lines whole.
    fired_line = re.compile(rf"schedule {schedule.id[:8]}[0-9a-f-]* fired for")
    said = sum(len(fired_line.findall((logs / f"w{i}.log").read_text())) for i in range(2))
    assert said == len(fired), said
    with runtime.store.reading() as s:
        after = s.get(Schedule, schedule.id)
    assert after is not None and after.last_error is None
    last = fired[-1].scheduled_for
    assert after.next_fire_at is not None and last is not None and after.next_fire_at > last
    assert {j.status for j in fired} <= {"pending", "processing", "completed"}
