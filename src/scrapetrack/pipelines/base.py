"""What pipelines and the runner share: the runner's primitives as the pipelines see them
(`JobDriver`), how a job ended, where a run's reading stands."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from scrapetrack.config import Settings
from scrapetrack.jobs import RateSample, Status
from scrapetrack.providers.base import ItemsPage, RunInfo, RunStatus
from scrapetrack.store.models import ScrapingJob
from scrapetrack.store.repository import Store

RATE_WINDOW_SECONDS = 10.0
T = TypeVar("T")
P = ParamSpec("P")


class LostJob(Exception):
    """The job is no longer this worker's: cancelled, finished or taken over."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    error: str | None = None


def run_outcome(run: RunInfo) -> Outcome:
    """What a finished Apify run means for the job."""
    message = run.status_message
    if run.status is RunStatus.SUCCEEDED:
        return Outcome(Status.COMPLETED)
    if run.status is RunStatus.TIMED_OUT:
        return Outcome(Status.TIMEOUT, f"The Apify run timed out: {message or 'no message'}")
    return Outcome(Status.ERROR,
                   f"The Apify run ended {run.status.value}: {message or 'no message'}")


@dataclass(slots=True)
class Cursor:
    """Where a worker is in a run's dataset; it moves only after a page is committed."""

    offset: int
    processed: int
    started: float
    last_news: float
    samples: deque[RateSample]
    draining: bool = False  # the last page was full: more items are known to be waiting
    done: bool = False  # the job holds all it asked for: read no further
    flowing: bool = False  # the last page held items
    run_read: float = -math.inf  # when the run itself was last read

    def advance(self, now: float, items: int, processed: int) -> None:
        self.offset += items
        self.processed = processed
        self.last_news = now
        self.samples.append(RateSample(now, processed))
        while len(self.samples) > 2 and self.samples[0].at < now - RATE_WINDOW_SECONDS:
            self.samples.popleft()


# A page handler commits one page of items (and moves the cursor) or raises LostJob.
PageHandler = Callable[[ItemsPage, float], Awaitable[None]]


class JobDriver(Protocol):
    """What a pipeline drives a job with (the worker's JobRunner implements it). Its
    coroutines run on the worker's event loop: the store is reached through `db`."""

    store: Store
    settings: Settings
    worker_id: str

    async def db(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A blocking store call, off the event loop."""

    async def start_run(self, job: ScrapingJob, actor_id: str, run_input: dict[str, Any], *,
                        max_items: int | None = None, **values: Any) -> RunInfo:
        """Start a run, capped, and save its id with `values` before any waiting."""

    async def write(self, job: ScrapingJob, **values: Any) -> int:
        """Change a job this worker owns; LostJob if it is no longer ours."""

    async def ingest(self, job: ScrapingJob, **page: Any) -> int:
        """Save one page of items with the job's counters (Store.ingest's arguments)."""

    def owned(self, job: ScrapingJob, version: int | None) -> int:
        """The version a write of ours made; LostJob when it found the job no longer ours."""

    def cursor(self, job: ScrapingJob, offset: int, processed: int) -> Cursor:
        """Where reading the job's current run starts."""

    async def check_in(self, job: ScrapingJob, heartbeat: bool = True) -> None:
        """Between steps that call no run: hand back on a stop, beat the heartbeat."""

    async def follow(self, job: ScrapingJob, run_id: str, dataset_id: str, cursor: Cursor,
                     on_page: PageHandler) -> Outcome:
        """Follow a run page by page to its end (or the cursor's), each page to `on_page`."""
