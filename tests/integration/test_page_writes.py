"""A worker's group commit (page_writes.py) on SQLite and PostgreSQL: pages that gather while
a write is under way go in one transaction, each answered as if written alone; a page that
cannot be written fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from scrapetrack.creators import Creator
from scrapetrack.exceptions import StoreUnavailable
from scrapetrack.page_writes import PageWrites
from scrapetrack.store.db import make_engine
from scrapetrack.store.models import ScrapingJob, utcnow
from scrapetrack.store.repository import PageWrite, Store
from tests.conftest import run_async
from tests.integration.conftest import new_job


def claimed(store: Store, worker: str = "w1") -> ScrapingJob:
    job = new_job(store)
    assert store.claim(job.id, worker, utcnow(), utcnow()) is not None
    return job


def page(job: ScrapingJob, *handles: str, from_offset: int = 0,
         worker: str = "w1") -> PageWrite:
    return PageWrite(job.id, worker, from_offset, from_offset + len(handles),
                     [Creator("tiktok", h, followers=10) for h in handles], skipped=0,
                     progress=len(handles), rate_per_second=1.0)


class Recording:
    """The store's ingest_pages on a thread, each batch it was given noted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batches: list[list[str]] = []

    async def __call__(self, pages: Sequence[PageWrite]) -> list[int | None]:
        self.batches.append([p.job_id for p in pages])
        return await asyncio.to_thread(self.store.ingest_pages, pages)


def handles(store: Store, job: ScrapingJob) -> set[str]:
    return {row.handle for row in store.creators(job.id)}


def test_pages_that_gather_commit_together_each_answered(store: Store) -> None:
    first, second, third, fourth = (claimed(store) for _ in range(4))
    taken = claimed(store, worker="w2")  # another worker's job: not ours to write
    record = Recording(store)
    writes = PageWrites(record, in_flight=1)

    async def scenario() -> tuple[int | None, ...]:
        # The first write starts at once; the rest gather behind it into one transaction.
        return await asyncio.gather(
            writes.write(page(first, "ann")), writes.write(page(fourth, "bo", "cy")),
            writes.write(page(taken, "dee")), writes.write(page(second, "eve")),
            writes.write(page(third, "fay", from_offset=5)))  # not where its offset stands

    versions = run_async(scenario)
    assert record.batches == [[first.id], [fourth.id, taken.id, second.id, third.id]]
    assert versions[2] is None and versions[4] is None
    for job, version in ((first, versions[0]), (fourth, versions[1]), (second, versions[3])):
        row = store.get_job(job.id)
        assert row is not None and row.version == version  # each page's own job's version
    assert handles(store, fourth) == {"bo", "cy"} and handles(store, second) == {"eve"}
    assert handles(store, taken) == set() and handles(store, third) == set()
    row = store.get_job(fourth.id)
    assert row is not None
    assert (row.items_offset, row.processed_results, row.creators_count) == (2, 2, 2)


def test_a_page_that_cannot_be_written_fails_alone(store: Store) -> None:
    jobs = [claimed(store) for _ in range(4)]
    record = Recording(store)
    writes = PageWrites(record, in_flight=1)
    broken = page(jobs[2], "gus")._replace(
        creators=[Creator(None, "gus")])  # type: ignore[arg-type]  # no platform: refused

    async def scenario() -> tuple[int | BaseException | None, ...]:
        return await asyncio.gather(
            writes.write(page(jobs[0], "ann")), writes.write(page(jobs[1], "bo")),
            writes.write(broken), writes.write(page(jobs[3], "cy")), return_exceptions=True)

    outcome = run_async(scenario)
    assert isinstance(outcome[2], IntegrityError)
    assert all(isinstance(v, int) for v in (outcome[0], outcome[1], outcome[3]))
    # The batch of three failed as a whole, then each page went alone.
    assert record.batches == [[jobs[0].id], [jobs[1].id, jobs[2].id, jobs[3].id],
                              [jobs[1].id], [jobs[2].id], [jobs[3].id]]
    assert handles(store, jobs[1]) == {"bo"} and handles(store, jobs[3]) == {"cy"}
    assert handles(store, jobs[2]) == set()
    row = store.get_job(jobs[2].id)
    assert row is not None and row.items_offset == 0


@pytest.mark.parametrize("in_flight", [1, 3])
def test_no_page_waits_when_nothing_is_under_way(store: Store, in_flight: int) -> None:
    job = claimed(store)
    record = Recording(store)
    writes = PageWrites(record, in_flight=in_flight)

    async def scenario() -> None:
        for offset in range(3):  # one after another: each page is written alone, at once
            assert await writes.write(page(job, f"p{offset}", from_offset=offset)) is not None

    run_async(scenario)
    assert record.batches == [[job.id]] * 3


@pytest.fixture(params=["sqlite", "postgres"])
def unreachable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store whose database does not answer: PostgreSQL on a port nobody listens on, a
    SQLite file whose place a folder took."""
    if request.param == "postgres":
        url = "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"
    else:
        database = tmp_path / "store.db"
        url = f"sqlite:///{database}"
    store = Store(make_engine(url))
    if request.param == "sqlite":
        database.unlink()
        database.mkdir()
    yield store
    store.close()


def test_a_database_that_does_not_answer_fails_the_whole_batch_at_once(
        unreachable_store: Store) -> None:
    jobs = [ScrapingJob(id=f"job{i}") for i in range(4)]
    record = Recording(unreachable_store)
    writes = PageWrites(record, in_flight=1)

    async def scenario() -> list[int | BaseException | None]:
        return await asyncio.gather(*(writes.write(page(job, f"p{i}"))
                                      for i, job in enumerate(jobs)), return_exceptions=True)

    outcome = run_async(scenario)
    assert all(isinstance(each, StoreUnavailable) for each in outcome)
    # No page tried again alone: each job's own back-off takes over.
    assert record.batches == [[jobs[0].id], [job.id for job in jobs[1:]]]


def test_a_page_carries_what_is_new_of_its_run(store: Store) -> None:
    job = claimed(store)
    news = {"run_status_message": "Scraped 2 of 50", "run_costs": {"run1": 0.25},
            "cost_usd": 0.25}
    assert store.ingest_pages([page(job, "ann", "bo")._replace(values=news)])[0] is not None
    row = store.get_job(job.id)
    assert row is not None
    assert (row.run_status_message, row.run_costs, row.cost_usd) == (
        "Scraped 2 of 50", {"run1": 0.25}, 0.25)
    # A message that went away is cleared; a page with no news leaves the rest as they are.
    store.ingest_pages([page(job, "cy", from_offset=2)._replace(
        values={"run_status_message": None})])
    store.ingest_pages([page(job, "dee", from_offset=3)])
    row = store.get_job(job.id)
    assert row is not None
    assert (row.run_status_message, row.run_costs, row.cost_usd, row.items_offset) == (
        None, {"run1": 0.25}, 0.25, 4)
    assert handles(store, job) == {"ann", "bo", "cy", "dee"}
