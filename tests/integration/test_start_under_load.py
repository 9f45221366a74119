"""Starting a search never waits for the workers' writes (PostgreSQL): a user's starts lock
the user's row against each other only, not against the KEY SHARE lock that the foreign keys
of the workers' transactions take on it while a job of theirs is saved."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg

from scrapetrack.access import Actor
from scrapetrack.config import Settings
from scrapetrack.events.postgres import libpq_dsn
from scrapetrack.jobs import Status
from scrapetrack.runtime import build_runtime
from scrapetrack.service import SearchRequest


def test_a_start_does_not_wait_for_a_writer_on_the_users_row(
        make_settings: Callable[..., Settings], postgres_url: str) -> None:
    runtime = build_runtime(make_settings(database_url=postgres_url), migrate=True,
                            embedded_worker=False)
    try:
        user = runtime.accounts.create_user("busy@example.com").user
        campaign = runtime.store.create_campaign(user.id, "busy", None)
        # The writer is let go first, should the start be stuck behind it.
        with ThreadPoolExecutor(1) as pool, \
                psycopg.connect(libpq_dsn(postgres_url)) as writer:
            # What a worker's transaction holds while it saves a row that refers to the user.
            writer.execute("SELECT 1 FROM users WHERE id = %s FOR KEY SHARE", [user.id])
            starting = pool.submit(runtime.service.start_search, Actor(user.id, user.email),
                                   SearchRequest(platform="tiktok", campaign_id=campaign.id,
                                                 keywords=["yoga"], target_results=10))
            job = starting.result(timeout=10)  # before the writer commits
            assert job.status == Status.PENDING
            writer.rollback()
    finally:
        runtime.close()
