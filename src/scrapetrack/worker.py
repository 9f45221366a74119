"""run_job: drive one job from pending to a terminal status, with real progress.

The store is the truth. Every write is guarded by (status, worker id), so a worker that lost
its job (cancelled, taken over after a silent spell) stops at its next write.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from scrapetrack.config import Settings
from scrapetrack.events.base import Notice
from scrapetrack.events.coalesce import CoalescingPublisher
from scrapetrack.exceptions import (
    ProviderError,
    ProviderUnavailable,
    QueueUnavailable,
    StoreUnavailable,
)
from scrapetrack.jobs import RateSample, Stage, Status, ingest_rate, keyword_progress
from scrapetrack.providers.base import Provider, RunInfo, RunStatus
from scrapetrack.providers.platforms import get_platform
from scrapetrack.store.models import ScrapingJob, utcnow
from scrapetrack.store.repository import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

RATE_WINDOW_SECONDS = 10.0


class LostJob(Exception):
    """The job is no longer this worker's: cancelled, finished or taken over."""


@dataclass(frozen=True, slots=True)
class Parked:
    """A job left at the end of its time budget: still `processing`, owned by no worker,
    claimable by the next delivery (or by anyone once its heartbeat is stale)."""

    job_id: str
    version: int
    # Seconds without new items when it was parked, so the stall limit spans deliveries.
    idle_seconds: float


class _OutOfTime(Exception):
    def __init__(self, parked: Parked | None) -> None:
        self.parked = parked


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

    def advance(self, now: float, items: int, processed: int) -> None:
        self.offset += items
        self.processed = processed
        self.last_news = now
        self.samples.append(RateSample(now, processed))
        while len(self.samples) > 2 and self.samples[0].at < now - RATE_WINDOW_SECONDS:
            self.samples.popleft()


class JobRunner:
    def __init__(self, settings: Settings, store: Store, provider: Provider, worker_id: str,
                 publisher: CoalescingPublisher, requeue: Callable[[str], None],
                 stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.worker_id = worker_id
        self.publisher = publisher
        self.requeue = requeue
        self.stop = stop or threading.Event()
        self.clock = clock
        self._active: set[str] = set()
        self._active_lock = threading.Lock()

    @property
    def active(self) -> frozenset[str]:
        """The jobs this process is running right now."""
        with self._active_lock:
            return frozenset(self._active)

    def run(self, job_id: str, deadline: float | None = None,
            idle_seconds: float = 0.0) -> Parked | None:
        """Drive the job to its end; with a `deadline` (on `clock`), only until then: the
        job is parked and the caller asks for it to be run again.

        `idle_seconds` carries the time without news across deliveries."""
        def claim() -> ScrapingJob | None:
            now = utcnow()
            stale = now - timedelta(seconds=self.settings.heartbeat_timeout_seconds)
            return self.store.claim(job_id, self.worker_id, now, stale)

        try:
            job = self._patiently(claim)
        except StoreUnavailable as exc:
            log.warning("job %s not claimed, the reaper will queue it again: %s", job_id,
                        exc.message)
            return None
        if job is None:
            log.info("job %s is not ours to run (finished, or owned by a live worker)", job_id)
            return None
        self._announce(job, job.version)
        with self._active_lock:
            self._active.add(job_id)
        try:
            return self._run(job, deadline, idle_seconds)
        finally:
            with self._active_lock:
                self._active.discard(job_id)

    def _run(self, job: ScrapingJob, deadline: float | None,
             idle_seconds: float) -> Parked | None:
        job_id = job.id
        try:
            outcome = self._drive(job, deadline, idle_seconds)
        except LostJob:
            log.info("job %s left this worker", job_id)
            return None
        except _OutOfTime as out:
            return out.parked
        except StoreUnavailable as exc:
            # Nothing can be recorded now; its heartbeat goes stale and the reaper queues it
            # again once the database is back, to resume where its last commit left it.
            log.warning("job %s paused: %s", job_id, exc.message)
            return None
        except ProviderError as exc:
            outcome = Outcome(Status.ERROR, exc.message)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            outcome = Outcome(Status.ERROR, f"Internal error: {type(exc).__name__}")
        progress = 100 if outcome.status is Status.COMPLETED else None
        try:
            finished = self._patiently(lambda: self.store.finish(
                job_id, outcome.status, error=outcome.error, worker_id=self.worker_id,
                progress=progress))
        except StoreUnavailable as exc:  # its heartbeat goes stale; the reaper takes it on
            log.warning("job %s ended but could not be recorded yet: %s", job_id, exc.message)
            return None
        if finished is not None:
            self._announce(finished, finished.version, final=True)
        return None

    def _drive(self, job: ScrapingJob, deadline: float | None = None,
               idle_seconds: float = 0.0) -> Outcome:
        platform = get_platform(job.platform)
        if job.apify_run_id is None or job.apify_dataset_id is None:
            run_input = platform.build_keyword_input(job.keywords or [], job.target_results,
                                                     self.settings)
            run = self.provider.start(platform.actor_id(self.settings), run_input)
            # Saved before any waiting: a retry re-attaches instead of paying for a second run.
            self._owned(job, self.store.update_owned(
                job.id, self.worker_id, apify_run_id=run.run_id,
                apify_dataset_id=run.dataset_id, stage=Stage.SEARCHING))
            job.apify_run_id, job.apify_dataset_id = run.run_id, run.dataset_id
        now = self.clock()
        cursor = Cursor(offset=job.items_offset, processed=job.processed_results,
                        # The job's age counts from its first start, across takeovers.
                        started=now - (utcnow() - (job.started_at or utcnow())).total_seconds(),
                        last_news=now - idle_seconds,
                        samples=deque([RateSample(now, job.processed_results)]))
        failures = 0
        while True:
            if self.stop.is_set():
                self._hand_back(job)
                raise LostJob()
            if deadline is not None and self.clock() >= deadline:
                raise _OutOfTime(self._park(job, self.clock() - cursor.last_news))
            try:
                outcome, more = self._step(job, cursor)
            except (ProviderUnavailable, StoreUnavailable) as exc:
                # apify-client and the pool have retried already. A blip of the network, of
                # Apify or of the database is no reason to fail a job: keep trying until the
                # stall limit decides. A step commits whole or not at all, so it can repeat.
                failures += 1
                if self.clock() - cursor.last_news > self.settings.stall_timeout_seconds:
                    self._abort_quietly(job.apify_run_id)
                    return Outcome(Status.TIMEOUT, "No progress for STALL_TIMEOUT_SECONDS "
                                   f"({self.settings.stall_timeout_seconds:g} s): {exc.message}")
                log.warning("job %s: %s (try %d)", job.id, exc.message, failures)
                with contextlib.suppress(StoreUnavailable):
                    if not self.store.heartbeat(job.id, self.worker_id):
                        raise LostJob() from None
                pause = min(30.0, self.settings.poll_interval_seconds * 2 ** failures)
                if deadline is not None:  # a budgeted delivery parks on time, outage or not
                    pause = min(pause, max(0.0, deadline - self.clock()))
                self.stop.wait(pause)
                continue
            failures = 0
            if outcome is not None:
                return outcome
            if not more:
                self.stop.wait(self.settings.poll_interval_seconds)

    def _step(self, job: ScrapingJob, cursor: Cursor) -> tuple[Outcome | None, bool]:
        """One look at the run and one page of items: (how the job ended, if it did; whether
        more items are waiting to be read at once)."""
        assert job.apify_run_id is not None and job.apify_dataset_id is not None
        run = self.provider.get_run(job.apify_run_id)
        page = self.provider.items_page(job.apify_dataset_id, cursor.offset,
                                        self.settings.page_size)
        now = self.clock()
        if page.items:
            platform = get_platform(job.platform)
            creators = [c for item in page.items
                        if (c := platform.normalize(item, job.keywords or [])) is not None]
            processed = cursor.processed + len(creators)
            samples = [*cursor.samples, RateSample(now, processed)]
            self._owned(job, self.store.ingest(
                job.id, self.worker_id, from_offset=cursor.offset,
                to_offset=cursor.offset + len(page.items), creators=creators,
                skipped=len(page.items) - len(creators),
                progress=keyword_progress(processed, job.target_results),
                rate_per_second=ingest_rate(samples)))
            cursor.advance(now, len(page.items), processed)
        elif not self.store.heartbeat(job.id, self.worker_id):
            # Cancelled (the canceller aborts the run) or taken over (the run goes on).
            raise LostJob()
        if len(page.items) == self.settings.page_size:
            return None, True  # more is waiting: read on without pausing
        if run.status.finished:
            # The run ended before this short page was read, so nothing is left unread.
            return run_outcome(run), False
        if now - cursor.started > self.settings.job_timeout_seconds:
            self._abort_quietly(job.apify_run_id)
            return Outcome(Status.TIMEOUT, "The job ran longer than JOB_TIMEOUT_SECONDS "
                           f"({self.settings.job_timeout_seconds:g} s)"), False
        if now - cursor.last_news > self.settings.stall_timeout_seconds:
            self._abort_quietly(job.apify_run_id)
            return Outcome(Status.TIMEOUT, "The run yielded no new items for "
                           f"STALL_TIMEOUT_SECONDS ({self.settings.stall_timeout_seconds:g} s)"
                           ), False
        return None, False

    def _patiently(self, write: Callable[[], T]) -> T:
        """A short write, tried again through a database blip (a restart, a full pool) for
        up to the heartbeat timeout before the reaper's slower path takes over."""
        deadline = self.clock() + self.settings.heartbeat_timeout_seconds
        delay = 0.1
        while True:
            try:
                return write()
            except StoreUnavailable:
                if self.clock() + delay > deadline or self.stop.is_set():
                    raise
                self.stop.wait(delay)
                delay = min(delay * 2, 2.0)

    def _owned(self, job: ScrapingJob, version: int | None) -> int:
        """A write's new version, announced; LostJob if the job was no longer ours."""
        if version is None:
            raise LostJob()
        self._announce(job, version)
        return version

    def _announce(self, job: ScrapingJob, version: int, final: bool = False) -> None:
        self.publisher.publish(Notice(job.id, job.campaign_id, version), final=final)

    def _hand_back(self, job: ScrapingJob) -> None:
        """On a graceful stop the job goes back to the queue, to resume at its saved offset."""
        version = self.store.update_owned(job.id, self.worker_id, status=Status.PENDING,
                                          worker_id=None)
        if version is not None:
            self._announce(job, version)
            try:
                self.requeue(job.id)
            except QueueUnavailable as exc:  # it is pending: the reaper queues it later
                log.warning("job %s handed back but not queued yet: %s", job.id, exc.message)

    def _park(self, job: ScrapingJob, idle_seconds: float) -> Parked | None:
        """At the end of a time budget the job stays `processing` (watchers see no flip back
        to pending) but is no one's, so the next delivery can claim it at once."""
        version = self.store.update_owned(job.id, self.worker_id, worker_id=None)
        if version is None:
            return None
        self._announce(job, version)
        return Parked(job.id, version, idle_seconds)

    def _abort_quietly(self, run_id: str | None) -> None:
        if run_id is None:
            return
        try:
            self.provider.abort(run_id)
        except ProviderError as exc:
            log.warning("could not abort run %s: %s", run_id, exc.message)
