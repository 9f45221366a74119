"""The event loop stays free while the database is not: with the jobs table locked (an
ACCESS EXCLUSIVE lock on PostgreSQL, a writer's exclusive transaction on SQLite), /healthz
answers and open streams stay open. On PostgreSQL a status read waits for the lock on a
thread of its own; on SQLite (WAL), reads on the loop never wait for a writer."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg

from scrapetrack.config import Settings
from tests.conftest import wait_until
from tests.integration.conftest import App, Listener, wait_for_job


@contextmanager
def jobs_table_locked(settings: Settings) -> Iterator[str]:
    """The jobs table locked by another connection until the block ends; the database."""
    if settings.database_url.startswith("sqlite"):
        writer = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"),
                                 isolation_level=None, timeout=30)
        writer.execute("BEGIN EXCLUSIVE")
        try:
            yield "sqlite"
        finally:
            writer.execute("ROLLBACK")
            writer.close()
        return
    url = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        conn.execute("LOCK TABLE scraping_jobs IN ACCESS EXCLUSIVE MODE")
        try:
            yield url
        finally:
            conn.rollback()


def waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                           "'Lock' AND datname = current_database()").fetchone()
        return bool(row and row[0])


def healthy(app: App) -> bool:
    return httpx.get(f"{app.url}/healthz", timeout=5).status_code == 200


def test_a_locked_jobs_table_never_stalls_the_loop(app: App) -> None:
    token = app.runtime.accounts.create_user("alice@example.com").token
    alice = app.client(token)
    campaign = alice.post("/api/campaigns", json={"name": "locked"}).json()

    def search(keyword: str) -> dict[str, str]:
        job: dict[str, str] = alice.post("/api/scraping/tiktok", json={
            "campaignId": campaign["id"], "keywords": [keyword], "targetResults": 5}).json()
        return job

    job = search("yoga")
    wait_for_job(alice, job)
    stream = Listener(app.client(token), f"/api/campaigns/{campaign['id']}/events")
    answers: list[int] = []
    with jobs_table_locked(app.runtime.settings) as database:
        assert healthy(app)
        reader = threading.Thread(target=lambda: answers.append(
            app.client(token).get(f"/api/jobs/{job['id']}", timeout=60).status_code))
        reader.start()
        if database == "sqlite":  # WAL: the read goes on beside the writer
            wait_until(lambda: answers == [200], 10, "the status read")
        else:  # the read waits for the lock, on a thread: the loop goes on
            wait_until(lambda: waiting_on_a_lock(database), 10, "the read to wait")
            assert answers == []
        assert healthy(app) and not stream.ended.is_set()
    reader.join(60)
    assert answers == [200]
    # The stream opened before the lock is live: a search started after it shows up.
    later = search("hiit")
    wait_until(lambda: later["id"] in "".join(stream.lines), 30, "the stream to carry it")
    assert not stream.ended.is_set()
