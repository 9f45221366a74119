"""A worker's group commit: the pages its jobs read, written many to a transaction.

A worker following hundreds of runs saves a page for most of them every second, usually of
one or two items. Alone, each page pays a transaction's fixed cost (a connection checked out
and pinged, BEGIN, COMMIT and its flush to disk) around a few small statements. Here a page
waits only while earlier writes are under way; then all pages that gathered meanwhile go in
one transaction. With few jobs nothing waits, so a page is written at once as before.

A batch is all or none. When the database refuses one, its pages are written again one by
one, so a page that cannot be written fails alone and the rest are saved. When the database
does not answer, every page of the batch fails with that at once: written alone, each would
only wait for the same answer while holding a write slot, and each job backs off by itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from scrapetrack.exceptions import StoreUnavailable
from scrapetrack.store.repository import PageWrite

# Writes under way at once: each holds one of the worker's store threads and connections.
IN_FLIGHT = 2
MOST_PAGES = 100  # a bound on one transaction's length

WritePages = Callable[[Sequence[PageWrite]], Awaitable[list[int | None]]]


class PageWrites:
    """Pages handed in from the worker's event loop, written through `write_pages` (the
    store's `ingest_pages`, on the store threads)."""

    def __init__(self, write_pages: WritePages, in_flight: int = IN_FLIGHT,
                 most_pages: int = MOST_PAGES) -> None:
        self._write_pages = write_pages
        self._in_flight_limit = in_flight
        self._most_pages = most_pages
        self._waiting: list[tuple[PageWrite, asyncio.Future[int | None]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def write(self, page: PageWrite) -> int | None:
        """The job's new version once the page is committed; None if the job was no longer
        the worker's. A store error is raised here as it would be for the page alone."""
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((page, done))
        self._start()
        return await done

    def _start(self) -> None:
        while self._waiting and len(self._in_flight) < self._in_flight_limit:
            batch = self._waiting[:self._most_pages]
            del self._waiting[:self._most_pages]
            task = asyncio.create_task(self._commit(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._start()

    async def _commit(self, batch: list[tuple[PageWrite, asyncio.Future[int | None]]]) -> None:
        try:
            versions = await self._write_pages([page for page, _ in batch])
        except StoreUnavailable as exc:
            for _, done in batch:
                _settle(done, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for page, done in batch:  # one by one: only a page that cannot be written fails
                try:
                    _settle(done, (await self._write_pages([page]))[0])
                except Exception as alone:
                    _settle(done, alone)
            return
        for (_, done), version in zip(batch, versions, strict=True):
            _settle(done, version)


def _settle(done: asyncio.Future[int | None], outcome: int | Exception | None) -> None:
    if done.done():  # its job stopped waiting (cancelled): the page is saved all the same
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)
