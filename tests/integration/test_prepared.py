"""The store's prepared statements (store/prepared.py) against Core's own answers, on SQLite
and PostgreSQL: the same values and types, any number of ids, fresh reads on every thread."""

from __future__ import annotations

import os
import threading
import uuid
from datetime import timedelta
from pathlib import Path

from scrapetrack.access import Actor
from scrapetrack.creators import Creator
from scrapetrack.jobs import Status
from scrapetrack.store.db import make_engine
from scrapetrack.store.migrate import upgrade
from scrapetrack.store.models import ScrapingJob, utcnow
from scrapetrack.store.repository import CHUNK, Store
from tests.integration.conftest import new_job


def test_rows_carry_the_values_and_types_core_gives(store: Store) -> None:
    job = new_job(store)
    assert store.claim(job.id, "w1", utcnow(), utcnow()) is not None
    assert store.update_owned(job.id, "w1", progress=40, processed_results=20,
                              rate_per_second=12.5) is not None
    orm = store.get_job(job.id)
    assert orm is not None
    (row,) = store.job_states([job.id])
    assert job.user_id is not None
    assert row == store.job_state(job.id, Actor(job.user_id, "owner@example.com"))
    for column in ScrapingJob.__table__.columns:
        assert getattr(row, column.key) == getattr(orm, column.key), column.key
    assert row.keywords == ["yoga", "pilates"]
    assert row.rate_per_second == 12.5 and isinstance(row.rate_per_second, float)
    assert row.updated_at.utcoffset() == timedelta(0)  # aware UTC, as Core gives
    assert row.finished_at is None
    assert store.job_state(job.id, Actor("someone else", "else@example.com")) is None
    scoped = Actor(job.user_id, "owner@example.com", workspace_id=new_job(store).workspace_id)
    assert store.job_state(job.id, scoped) is None  # a token limited to another workspace


def test_any_number_of_ids_and_campaigns_reads_each_job_once(store: Store) -> None:
    first = new_job(store)
    others = [new_job(store, first.campaign_id, first.user_id) for _ in range(4)]
    alone = [new_job(store) for _ in range(2)]
    everyone = {first.id, *(j.id for j in others), *(j.id for j in alone)}
    # 3 ids (padded to 4 binds), one campaign whose jobs overlap them.
    rows = store.job_states([alone[0].id, alone[1].id, others[0].id], [first.campaign_id])
    assert sorted(r.id for r in rows) == sorted(everyone)
    # More ids than one statement takes, unknown ones among them.
    many = [*everyone, *(str(uuid.uuid4()) for _ in range(CHUNK + 7))]
    assert sorted(r.id for r in store.job_states(many)) == sorted(everyone)
    assert store.job_states([], []) == []


def test_every_thread_reads_what_was_just_committed(store: Store) -> None:
    job = new_job(store)
    assert store.claim(job.id, "w1", utcnow(), utcnow()) is not None
    stale: list[tuple[int, int]] = []

    def reader(rounds: int) -> None:
        for _ in range(rounds):
            committed = store.update_owned(job.id, "w1", progress=1, processed_results=1)
            assert committed is not None
            (row,) = store.job_states([job.id])
            if row.version < committed:
                stale.append((row.version, committed))

    threads = [threading.Thread(target=reader, args=(40,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stale == []


def test_a_page_upserted_prepared_merges_with_earlier_pages(store: Store) -> None:
    job = new_job(store)
    assert store.claim(job.id, "w1", utcnow(), utcnow()) is not None
    page = [Creator(platform="tiktok", handle="Ana", display_name=None, followers=10,
                    engagement_rate=0.1, verified=False),
            Creator(platform="tiktok", handle="ana", display_name="Ana B", followers=None,
                    engagement_rate=None, verified=True),
            Creator(platform="tiktok", handle="bo", followers=5, engagement_rate=0.3)]
    assert store.ingest(job.id, "w1", from_offset=0, to_offset=3, creators=page, skipped=0,
                        progress=6, rate_per_second=None) is not None
    again = [Creator(platform="tiktok", handle="ANA", followers=12, engagement_rate=0.5)]
    assert store.ingest(job.id, "w1", from_offset=3, to_offset=4, creators=again, skipped=0,
                        progress=8, rate_per_second=None) is not None
    rows = {c.handle_key: c for c in store.creators(job.id)}
    assert set(rows) == {"ana", "bo"}
    ana = rows["ana"]
    assert (ana.display_name, ana.followers, ana.verified, ana.items_count) == \
        ("Ana B", 12, True, 3)
    assert ana.engagement_samples == 2 and abs(ana.engagement_sum - 0.6) < 1e-9
    assert ana.created_at.tzinfo is not None
    done = store.get_job(job.id)
    assert done is not None and done.creators_count == 2 and done.status == Status.PROCESSING


def test_closing_the_store_closes_every_threads_connection(tmp_path: Path) -> None:
    """On SQLite each thread reads on a connection of its own, kept: closing the store
    closes them all, whichever threads opened them."""
    path = tmp_path / "held.db"
    store = Store(make_engine(f"sqlite:///{path}"))
    upgrade(store.engine)
    job = new_job(store)
    read_all, counted = threading.Barrier(4), threading.Event()

    def read() -> None:
        assert [row.id for row in store.job_states([job.id])] == [job.id]
        read_all.wait(30)
        counted.wait(30)  # alive until counted: an ended thread's connection is closed

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    read_all.wait(30)
    assert open_files(path) >= 3
    counted.set()
    for thread in threads:
        thread.join(30)
    store.close()
    assert open_files(path) == 0


def open_files(path: Path) -> int:
    """This process's open descriptors of the database file."""
    return sum(1 for fd in Path("/proc/self/fd").iterdir()
               if os.path.realpath(fd) == str(path.resolve()))


def test_a_thread_that_ended_leaves_no_connection_open(tmp_path: Path) -> None:
    """A server's request threads come and go: each held a connection of its own, closed once
    the thread has ended and another opens one."""
    path = tmp_path / "held.db"
    store = Store(make_engine(f"sqlite:///{path}"))
    upgrade(store.engine)
    job = new_job(store)

    def read() -> None:
        assert [row.id for row in store.job_states([job.id])] == [job.id]

    for _ in range(20):  # one after another, each thread gone before the next reads
        thread = threading.Thread(target=read)
        thread.start()
        thread.join(30)
    assert open_files(path) <= 2  # the last thread's, and the pool's
    store.close()
