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
from typing import Any, TypeVar

from scrapetrack.config import Settings
from scrapetrack.events.base import Notice
from scrapetrack.events.coalesce import CoalescingPublisher
from scrapetrack.exceptions import (
    BudgetSpent,
    ProviderBusy,
    ProviderError,
    ProviderUnavailable,
    QueueUnavailable,
    StoreUnavailable,
)
from scrapetrack.jobs import RateSample, Status
from scrapetrack.logs import bind, job_context, job_fields
from scrapetrack.pipelines import PIPELINES
from scrapetrack.pipelines.base import Cursor, LostJob, Outcome, PageHandler, run_outcome
from scrapetrack.providers.base import Provider, RunCaps, RunInfo
from scrapetrack.queue import Parked
from scrapetrack.store.models import ScrapingJob, utcnow
from scrapetrack.store.repository import Store
from scrapetrack.tracing import NO_TRACING, Tracing

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["Cursor", "JobRunner", "LostJob", "Outcome", "Parked", "run_outcome"]

MAX_CAPACITY_WAIT_SECONDS = 300.0
# An Apify run's page in Console (Apify's documented consoleRunUrl form).
CONSOLE_RUN_URL = "https://console.apify.com/actors/runs/"


def charge_left(job: ScrapingJob) -> float | None:
    """What the job's runs may still charge: its budget less what they cost so far; None
    when it has no budget. A spent budget starts no run."""
    if job.budget_usd is None:
        return None
    left = round(job.budget_usd - (job.cost_usd or 0.0), 6)
    if left <= 0:
        raise BudgetSpent(f"This search's budget of ${job.budget_usd:g} is spent "
                               f"(its runs cost ${job.cost_usd or 0:g})")
    return left


@dataclass(frozen=True, slots=True)
class Budget:
    """How long one delivery may drive a job (QStash), and the quiet time it inherits."""

    deadline: float | None = None  # on the runner's clock
    idle_seconds: float = 0.0


class _OutOfTime(Exception):
    def __init__(self, parked: Parked | None) -> None:
        self.parked = parked


class JobRunner:
    def __init__(self, settings: Settings, store: Store, provider: Provider, worker_id: str,
                 publisher: CoalescingPublisher, requeue: Callable[[str, float], None],
                 stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 ended: Callable[[str], None] = lambda _job_id: None,
                 tracing: Tracing = NO_TRACING) -> None:
        self.settings = settings
        self.store = store
        self.provider = provider
        self.worker_id = worker_id
        self.publisher = publisher
        self.requeue = requeue
        self.stop = stop or threading.Event()
        self.clock = clock
        self.ended = ended  # tells the world (webhooks, notifications)
        self.tracing = tracing
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        self._budgets: dict[str, Budget] = {}  # per running job, for the pipelines' loops
        self._news: dict[str, dict[str, Any]] = {}  # per running job: run news not yet saved

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
        # Every line logged while this thread runs the job says which job (and run) it is.
        with job_context(job_id=job_id):
            return self._claim_and_run(job_id, Budget(deadline, idle_seconds))

    def _claim_and_run(self, job_id: str, budget: Budget) -> Parked | None:
        def claim() -> ScrapingJob | None:
            now = utcnow()
            stale = now - timedelta(seconds=self.settings.heartbeat_timeout_seconds)
            return self.store.claim(job_id, self.worker_id, now, stale)

        try:
            job = self._retry_store_write(claim)
        except StoreUnavailable as exc:
            log.warning("job %s not claimed, the reaper will queue it again: %s", job_id,
                        exc.message)
            return None
        if job is None:
            log.debug("job %s is not ours to run (finished, or owned by a live worker)",
                      job_id)
            return None
        bind(campaign_id=job.campaign_id, apify_run_id=job.apify_run_id)
        # pending → processing (or a takeover): one line, with what the job is.
        log.info("job %s started on %s (attempt %d)", job_id, job.platform, job.attempts,
                 extra=job_fields(job, attempt=job.attempts))
        self._announce(job, job.version)
        with self._active_lock:
            self._active.add(job_id)
        self._budgets[job_id] = budget
        try:
            # A child of the request that created the job, whichever process that was.
            with self.tracing.job_run(job_id, job.trace_parent, {
                    "scrapetrack.job.kind": job.kind, "scrapetrack.job.platform": job.platform,
                    "scrapetrack.job.attempt": job.attempts,
                    "scrapetrack.worker.id": self.worker_id}):
                return self._run(job)
        finally:
            self._budgets.pop(job_id, None)
            self._news.pop(job_id, None)
            with self._active_lock:
                self._active.discard(job_id)

    def _run(self, job: ScrapingJob) -> Parked | None:
        job_id = job.id
        try:
            outcome = self._drive(job)
        except LostJob:
            # Whoever took it (the canceller, another worker) logs the transition.
            log.debug("job %s left this worker", job_id)
            return None
        except _OutOfTime as out:
            return out.parked
        except StoreUnavailable as exc:
            # Nothing can be recorded now; its heartbeat goes stale and the reaper queues it
            # again once the database is back, to resume where its last commit left it.
            log.warning("job %s paused: %s", job_id, exc.message)
            return None
        except ProviderBusy as exc:
            timed_out = self._wait_for_capacity(job, exc)
            if timed_out is None:
                return None
            outcome = timed_out
        except ProviderError as exc:
            outcome = Outcome(Status.ERROR, exc.message)
        except Exception as exc:
            log.exception("job %s failed", job_id)
            outcome = Outcome(Status.ERROR, f"Internal error: {type(exc).__name__}")
        span = self.tracing.current()
        span.set("scrapetrack.job.status", outcome.status.value)
        if outcome.status in (Status.ERROR, Status.TIMEOUT):
            span.fail(outcome.error or outcome.status.value)
        progress = 100 if outcome.status is Status.COMPLETED else None
        news = self._take_news(job)
        try:
            finished = self._retry_store_write(lambda: self.store.finish(
                job_id, outcome.status, error=outcome.error, worker_id=self.worker_id,
                progress=progress, values=news))
        except StoreUnavailable as exc:  # its heartbeat goes stale; the reaper takes it on
            log.warning("job %s ended but could not be recorded yet: %s", job_id, exc.message)
            return None
        if finished is not None:
            self._announce(finished, finished.version, final=True)
            self.ended(job_id)
            log.info("job %s ended %s: %d items, %d creators%s%s", job_id, finished.status,
                     finished.processed_results, finished.creators_count,
                     f", ${finished.cost_usd:.2f}" if finished.cost_usd is not None else "",
                     f" ({finished.last_error})" if finished.last_error else "",
                     extra=job_fields(finished, error=finished.last_error))
        return None

    def _drive(self, job: ScrapingJob) -> Outcome:
        return PIPELINES[job.kind](self, job)

    # primitives the pipelines drive a job with ----------------------------------------------
    def start_run(self, job: ScrapingJob, actor_id: str, run_input: dict[str, Any], *,
                  max_items: int | None = None, **values: Any) -> RunInfo:
        """Start a run, capped at `max_items` results and at what is left of the job's
        budget, and save its id (with `values`) before any waiting: a retry re-attaches
        instead of paying for a second run. A new run is read from offset 0."""
        caps = RunCaps(max_items=max_items, max_charge_usd=charge_left(job))
        limit = self.settings.apify_max_concurrent_runs
        if limit is not None and not self.store.take_run_slot(job.id, self.worker_id, limit):
            raise ProviderBusy(f"all APIFY_MAX_CONCURRENT_RUNS ({limit}) runs are in use")
        try:
            run = self.provider.start(actor_id, run_input, caps)
        except ProviderError:
            if limit is not None:
                self.store.release_run_slot(job.id)
            raise
        console = None if self.settings.uses_sandbox else CONSOLE_RUN_URL + run.run_id
        self.write(job, apify_run_id=run.run_id, apify_dataset_id=run.dataset_id,
                   items_offset=0, console_url=console, **values)
        job.apify_run_id, job.apify_dataset_id, job.items_offset = run.run_id, run.dataset_id, 0
        self.note_run(job, run)
        bind(apify_run_id=run.run_id)
        # Not a transition of the job: its end line carries the run id.
        log.debug("job %s started Apify run %s on %s", job.id, run.run_id, actor_id)
        return run

    def write(self, job: ScrapingJob, **values: Any) -> int:
        """Change a job this worker owns (with what is new of its run); LostJob if it is no
        longer ours."""
        return self.owned(job, self.store.update_owned(
            job.id, self.worker_id, **{**self._take_news(job), **values}))

    def ingest(self, job: ScrapingJob, **page: Any) -> int:
        """Save one page of items (Store.ingest's arguments), with what is new of its run."""
        return self.owned(job, self.store.ingest(job.id, self.worker_id, **page,
                                                 values=self._take_news(job)))

    def note_run(self, job: ScrapingJob, run: RunInfo) -> None:
        """Keep what changed of the run (its status message, its cost) for the job's next
        write: a look at the run costs no write of its own."""
        news = self._news.setdefault(job.id, {})
        if run.status_message != job.run_status_message:
            job.run_status_message = news["run_status_message"] = run.status_message
        if run.usage_usd is not None and (job.run_costs or {}).get(run.run_id) != run.usage_usd:
            costs = {**(job.run_costs or {}), run.run_id: run.usage_usd}
            job.run_costs = news["run_costs"] = costs
            job.cost_usd = news["cost_usd"] = round(sum(costs.values()), 6)

    def _take_news(self, job: ScrapingJob) -> dict[str, Any]:
        return self._news.pop(job.id, None) or {}

    def cursor(self, job: ScrapingJob, offset: int, processed: int) -> Cursor:
        now = self.clock()
        idle = self._budgets.get(job.id, Budget()).idle_seconds
        return Cursor(offset=offset, processed=processed,
                      # The job's age counts from its first start, across takeovers.
                      started=now - (utcnow() - (job.started_at or utcnow())).total_seconds(),
                      last_news=now - idle, samples=deque([RateSample(now, processed)]))

    def check_in(self, job: ScrapingJob, heartbeat: bool = True) -> None:
        """Between steps that call no run: hand back on a graceful stop, and (unless the
        step writes anyway) beat the heartbeat; LostJob once the job is no longer ours."""
        if self.stop.is_set():
            self._hand_back(job)
            raise LostJob()
        self._park_if_out_of_time(job, idle_seconds=0.0)
        if heartbeat and not self.store.heartbeat(job.id, self.worker_id):
            raise LostJob()

    def follow(self, job: ScrapingJob, run_id: str, dataset_id: str, cursor: Cursor,
               on_page: PageHandler) -> Outcome:
        """Read a run's dataset page by page from `cursor` until the run has ended and its
        last short page is read; `on_page` commits each page. How the run ended, or a
        timeout (the run aborted)."""
        outcome = self._follow(job, run_id, dataset_id, cursor, on_page)
        if self.settings.apify_max_concurrent_runs is not None:  # the run is over
            self.store.release_run_slot(job.id)
        return outcome

    def _follow(self, job: ScrapingJob, run_id: str, dataset_id: str, cursor: Cursor,
                on_page: PageHandler) -> Outcome:
        failures = 0
        while True:
            if self.stop.is_set():
                self._hand_back(job)
                raise LostJob()
            self._park_if_out_of_time(job, idle_seconds=self.clock() - cursor.last_news)
            try:
                outcome, more = self._step(job, run_id, dataset_id, cursor, on_page)
            except (ProviderUnavailable, StoreUnavailable) as exc:
                # apify-client and the pool have retried already. A blip of the network, of
                # Apify or of the database is no reason to fail a job: keep trying until the
                # stall limit decides. A step commits whole or not at all, so it can repeat.
                failures += 1
                if self.clock() - cursor.last_news > self.settings.stall_timeout_seconds:
                    self.abort_quietly(run_id)
                    return Outcome(Status.TIMEOUT, "No progress for STALL_TIMEOUT_SECONDS "
                                   f"({self.settings.stall_timeout_seconds:g} s): {exc.message}")
                log.warning("job %s: %s (try %d)", job.id, exc.message, failures)
                with contextlib.suppress(StoreUnavailable):
                    if not self.store.heartbeat(job.id, self.worker_id):
                        raise LostJob() from None
                pause = min(30.0, self.settings.poll_interval_seconds * 2 ** failures)
                deadline = self._budgets.get(job.id, Budget()).deadline
                if deadline is not None:  # a budgeted delivery parks on time, outage or not
                    pause = min(pause, max(0.0, deadline - self.clock()))
                self.stop.wait(pause)
                continue
            failures = 0
            if outcome is not None:
                return outcome
            if not more:
                self.stop.wait(self.settings.poll_interval_seconds)

    def _step(self, job: ScrapingJob, run_id: str, dataset_id: str, cursor: Cursor,
              on_page: PageHandler) -> tuple[Outcome | None, bool]:
        """One look at the run and one page of items: (how the job ended, if it did; whether
        more items are waiting to be read at once)."""
        # The run's status, read before the page, tells whether a short page is the last.
        # While pages come back full it cannot be, so draining skips that request.
        run = None if cursor.draining else self.provider.get_run(run_id)
        if run is not None:
            self.note_run(job, run)
        page = self.provider.items_page(dataset_id, cursor.offset, self.settings.page_size)
        now = self.clock()
        if page.items:
            on_page(page, now)
            if cursor.done:  # the job holds what it asked for: pay for nothing more
                return self._enough(job, run_id, run), False
        elif self._news.get(job.id):
            self.write(job)
        elif not self.store.heartbeat(job.id, self.worker_id):
            # Cancelled (the canceller aborts the run) or taken over (the run goes on).
            raise LostJob()
        if len(page.items) == self.settings.page_size:
            cursor.draining = True
            return None, True  # more is waiting: read on without pausing
        if run is None:  # a short page after full ones: look at the run, then read on
            cursor.draining = False
            return None, True
        if run.status.finished:
            # The run ended before this short page was read, so nothing is left unread.
            return run_outcome(run), False
        if now - cursor.started > self.settings.job_timeout_seconds:
            self.abort_quietly(run_id)
            return Outcome(Status.TIMEOUT, "The job ran longer than JOB_TIMEOUT_SECONDS "
                           f"({self.settings.job_timeout_seconds:g} s)"), False
        if now - cursor.last_news > self.settings.stall_timeout_seconds:
            self.abort_quietly(run_id)
            return Outcome(Status.TIMEOUT, "The run yielded no new items for "
                           f"STALL_TIMEOUT_SECONDS ({self.settings.stall_timeout_seconds:g} s)"
                           ), False
        return None, False

    def _wait_for_capacity(self, job: ScrapingJob, busy: ProviderBusy) -> Outcome | None:
        """Apify has no room for another run of this account now (HTTP 402). The job goes
        back to pending, saying why, and is tried again after a back-off that doubles with
        each try, for as long as JOB_TIMEOUT_SECONDS allows; then it times out."""
        wait = min(MAX_CAPACITY_WAIT_SECONDS,
                   self.settings.apify_capacity_retry_seconds * 2 ** min(job.attempts - 1, 10))
        now = utcnow()
        if (now - job.created_at).total_seconds() + wait > self.settings.job_timeout_seconds:
            return Outcome(Status.TIMEOUT, "Apify had no capacity for this search within "
                           f"JOB_TIMEOUT_SECONDS ({self.settings.job_timeout_seconds:g} s): "
                           f"{busy.message}")
        version = self.store.update_owned(
            job.id, self.worker_id, status=Status.PENDING, worker_id=None,
            not_before=now + timedelta(seconds=wait),
            run_status_message=f"Waiting for Apify capacity; trying again in {wait:g} s "
                               f"({busy.message})")
        if version is None:
            return None
        self._announce(job, version)
        log.info("job %s back to pending for %g s, no Apify capacity: %s", job.id, wait,
                 busy.message, extra=job_fields(job, status=Status.PENDING.value))
        try:
            self.requeue(job.id, wait)
        except QueueUnavailable as exc:  # the reaper queues it once it is due
            log.warning("job %s not queued again yet: %s", job.id, exc.message)
        return None

    def _enough(self, job: ScrapingJob, run_id: str, run: RunInfo | None) -> Outcome:
        """The job has all it asked for: the run, if still going, is aborted, and what it
        cost in the end is read."""
        if run is None or not run.status.finished:
            self.abort_quietly(run_id)
        with contextlib.suppress(ProviderError):
            self.note_run(job, self.provider.get_run(run_id))
        return Outcome(Status.COMPLETED)

    def _retry_store_write(self, write: Callable[[], T]) -> T:
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

    def owned(self, job: ScrapingJob, version: int | None) -> int:
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
            log.info("job %s handed back to the queue: this worker is stopping", job.id,
                     extra=job_fields(job, status=Status.PENDING.value))
            try:
                self.requeue(job.id, 0)
            except QueueUnavailable as exc:  # it is pending: the reaper queues it later
                log.warning("job %s handed back but not queued yet: %s", job.id, exc.message)

    def _park_if_out_of_time(self, job: ScrapingJob, idle_seconds: float) -> None:
        """Past its delivery's deadline a job is parked, to go on in the next delivery."""
        deadline = self._budgets.get(job.id, Budget()).deadline
        if deadline is not None and self.clock() >= deadline:
            raise _OutOfTime(self._park(job, idle_seconds))

    def _park(self, job: ScrapingJob, idle_seconds: float) -> Parked | None:
        """At the end of a time budget the job stays `processing` (watchers see no flip back
        to pending) but is no one's, so the next delivery can claim it at once."""
        version = self.store.update_owned(job.id, self.worker_id, worker_id=None)
        if version is None:
            return None
        self._announce(job, version)
        return Parked(job.id, version, idle_seconds)

    def abort_quietly(self, run_id: str | None) -> None:
        if run_id is None:
            return
        try:
            self.provider.abort(run_id)
        except ProviderError as exc:
            log.warning("could not abort run %s: %s", run_id, exc.message)


