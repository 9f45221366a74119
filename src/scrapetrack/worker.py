"""JobRunner: drive jobs from pending to a terminal status, with real progress.

The store is the truth. Every write is guarded by (status, worker id), so a worker that lost
its job (cancelled, taken over after a silent spell) stops at its next write.

All of a process's running jobs are coroutines on one event loop (`LoopThread`): a job
waiting on its run holds no thread, so one process carries hundreds of runs. Apify is called
through apify-client's async client on that loop; the store (blocking SQLAlchemy) on a small
pool of threads, the same few whatever the number of jobs. Huey's consumer threads only hand
jobs over (`take`), waiting while every job slot is in use.

How often a run is looked at follows the run: every WORKER_POLL_INTERVAL_SECONDS while items
flow, at once while pages come back full, backing off while it yields nothing; never more
often than twice a second. Its status is read only when it can tell something new: after an
empty page (has it ended?), or now and then for its status message and cost.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

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
from scrapetrack.loopthread import LoopThread
from scrapetrack.page_writes import PageWrites
from scrapetrack.pipelines import PIPELINES
from scrapetrack.pipelines.base import Cursor, LostJob, Outcome, PageHandler, run_outcome
from scrapetrack.providers.base import Provider, RunCaps, RunInfo
from scrapetrack.queue import Parked
from scrapetrack.store.models import ScrapingJob, utcnow
from scrapetrack.store.repository import PageWrite, Store
from scrapetrack.tracing import NO_TRACING, Tracing

log = logging.getLogger(__name__)
T = TypeVar("T")
P = ParamSpec("P")

__all__ = ["Cursor", "JobRunner", "LostJob", "Outcome", "Parked", "run_outcome"]

MAX_CAPACITY_WAIT_SECONDS = 300.0
# An Apify run's page in Console (Apify's documented consoleRunUrl form).
CONSOLE_RUN_URL = "https://console.apify.com/actors/runs/"
# A run is looked at no more often than this, whatever WORKER_POLL_INTERVAL_SECONDS says:
# twice a second is as fast as anyone watches a progress bar.
MIN_LOOK_SECONDS = 0.5
# While a run yields nothing, each look waits twice as long as the last, up to this many
# poll intervals: a quiet run costs few requests, and its next items are still seen soon.
MAX_BACKOFF_FACTOR = 4
# While items flow, the run itself is read this often for its status message and cost: the
# progress shown comes from the pages, and at hundreds of runs these reads are a tenth of a
# worker's requests.
RUN_NEWS_SECONDS = 10.0
# Threads for the store's blocking calls: a few serve any number of jobs (each call is a
# short transaction); they bound the connections a worker holds too.
STORE_THREADS = 6


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
        self.loop = LoopThread("jobs")
        self._store_calls = concurrent.futures.ThreadPoolExecutor(
            STORE_THREADS, thread_name_prefix="job-store")
        # One thread, so a job's notices leave in the order they were made.
        self._notices = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="notices")
        self._announced: list[tuple[Notice, bool]] = []  # this loop turn's, not yet sent
        self._pages = PageWrites(self._write_pages)
        self._slots = threading.BoundedSemaphore(max(1, settings.worker_concurrency))
        self._active: set[str] = set()
        self._active_lock = threading.Lock()
        self._running: set[concurrent.futures.Future[Parked | None]] = set()
        self._budgets: dict[str, Budget] = {}  # per running job, for the pipelines' loops
        self._news: dict[str, dict[str, Any]] = {}  # per running job: run news not yet saved
        self._lost: set[str] = set()  # found no longer ours by the shared heartbeat
        self._sleepers: set[asyncio.Future[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def active(self) -> frozenset[str]:
        """The jobs this process is running right now."""
        with self._active_lock:
            return frozenset(self._active)

    # entry points, from any thread ----------------------------------------------------------
    def run(self, job_id: str, deadline: float | None = None,
            idle_seconds: float = 0.0) -> Parked | None:
        """Drive the job to its end and return then; with a `deadline` (on `clock`), only
        until then: the job is parked and the caller asks for it to be run again.

        `idle_seconds` carries the time without news across deliveries."""
        return self._submit(job_id, Budget(deadline, idle_seconds)).result()

    def take(self, job_id: str) -> None:
        """Start driving the job once a job slot is free, and return without waiting for
        its end (the queue's consumer threads only hand jobs over). On a stop the job goes
        back to the queue unstarted."""
        slots = self._slots
        while not slots.acquire(timeout=0.25):
            if self.stop.is_set():
                self._requeue_quietly(job_id, "this worker is stopping")
                return
        try:
            running = self._submit(job_id, Budget())
        except BaseException:
            slots.release()
            raise
        running.add_done_callback(lambda _: slots.release())

    def set_slots(self, slots: int) -> None:
        """How many jobs this worker drives at once (before it takes any)."""
        self._slots = threading.BoundedSemaphore(max(1, slots))

    def halt(self) -> None:
        """Stop: every running job hands itself back at its next step (now, if it waits)."""
        self.stop.set()
        self.loop.call_soon(self._wake_sleepers)

    def wait_idle(self, timeout: float) -> bool:
        """Whether every job left this worker within `timeout` seconds."""
        with self._active_lock:
            running = list(self._running)
        done, _ = concurrent.futures.wait(running, timeout=timeout)
        return len(done) == len(running)

    def close(self) -> None:
        self.halt()
        self.wait_idle(timeout=10)
        if self._heartbeat is not None:
            self.loop.call_soon(self._heartbeat.cancel)
        if self.loop.started:  # the async client's connections belong to that loop
            with contextlib.suppress(Exception):
                self.loop.submit(self.provider.aclose()).result(timeout=5)
        self.loop.close()
        self._store_calls.shutdown(wait=False)
        self._notices.shutdown(wait=True)

    def _submit(self, job_id: str, budget: Budget) -> concurrent.futures.Future[Parked | None]:
        future = self.loop.submit(self._claim_and_run(job_id, budget))
        with self._active_lock:
            self._running.add(future)
        future.add_done_callback(self._forget_future)
        return future

    def _forget_future(self, future: concurrent.futures.Future[Parked | None]) -> None:
        with self._active_lock:
            self._running.discard(future)

    def _requeue_quietly(self, job_id: str, why: str) -> None:
        try:
            self.requeue(job_id, 0)
        except QueueUnavailable as exc:  # it is pending: the reaper queues it later
            log.warning("job %s not queued again (%s) yet: %s", job_id, why, exc.message)

    # on the loop ----------------------------------------------------------------------------
    async def db(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A blocking store call, on the store's threads (with this task's log context and
        trace)."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._store_calls, functools.partial(context.run, call, *args, **kwargs))

    async def _write_pages(self, pages: Sequence[PageWrite]) -> list[int | None]:
        return await self.db(self.store.ingest_pages, pages)

    async def pause(self, seconds: float) -> None:
        """Wait `seconds`, or less if the worker is stopping."""
        if seconds <= 0 or self.stop.is_set():
            return
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, sleeper)
        self._sleepers.add(sleeper)
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)

    def _wake_sleepers(self) -> None:
        for sleeper in list(self._sleepers):
            _wake(sleeper)

    async def _claim_and_run(self, job_id: str, budget: Budget) -> Parked | None:
        # Every line logged while this task runs the job says which job (and run) it is.
        with job_context(job_id=job_id):
            self._start_heartbeat()

            def claim() -> ScrapingJob | None:
                now = utcnow()
                stale = now - timedelta(seconds=self.settings.heartbeat_timeout_seconds)
                return self.store.claim(job_id, self.worker_id, now, stale)

            try:
                job = await self._retry_store_write(claim)
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
                        "scrapetrack.job.kind": job.kind,
                        "scrapetrack.job.platform": job.platform,
                        "scrapetrack.job.attempt": job.attempts,
                        "scrapetrack.worker.id": self.worker_id}):
                    return await self._run(job)
            finally:
                self._budgets.pop(job_id, None)
                self._news.pop(job_id, None)
                self._lost.discard(job_id)
                with self._active_lock:
                    self._active.discard(job_id)

    def _start_heartbeat(self) -> None:
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        """One write says this worker is alive for all its jobs, a few times per heartbeat
        timeout; a job it finds no longer ours (cancelled, taken over) stops at its next
        step."""
        while True:
            await asyncio.sleep(self.settings.heartbeat_timeout_seconds / 4)
            running = self.active
            if not running:
                continue
            try:
                ours = await self.db(self.store.heartbeat_many, running, self.worker_id)
            except StoreUnavailable as exc:  # each job's own writes retry; so do we
                log.warning("could not beat the heartbeat: %s", exc.message)
                continue
            self._lost |= running - ours

    async def _run(self, job: ScrapingJob) -> Parked | None:
        job_id = job.id
        try:
            outcome = await PIPELINES[job.kind](self, job)
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
            timed_out = await self._wait_for_capacity(job, exc)
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
            finished = await self._retry_store_write(lambda: self.store.finish(
                job_id, outcome.status, error=outcome.error, worker_id=self.worker_id,
                progress=progress, values=news))
        except StoreUnavailable as exc:  # its heartbeat goes stale; the reaper takes it on
            log.warning("job %s ended but could not be recorded yet: %s", job_id, exc.message)
            return None
        if finished is not None:
            self._announce(finished, finished.version, final=True)
            await self.db(self.ended, job_id)
            log.info("job %s ended %s: %d items, %d creators%s%s", job_id, finished.status,
                     finished.processed_results, finished.creators_count,
                     f", ${finished.cost_usd:.2f}" if finished.cost_usd is not None else "",
                     f" ({finished.last_error})" if finished.last_error else "",
                     extra=job_fields(finished, error=finished.last_error))
        return None

    # primitives the pipelines drive a job with ----------------------------------------------
    async def start_run(self, job: ScrapingJob, actor_id: str, run_input: dict[str, Any], *,
                        max_items: int | None = None, **values: Any) -> RunInfo:
        """Start a run, capped at `max_items` results and at what is left of the job's
        budget, and save its id (with `values`) before any waiting: a retry re-attaches
        instead of paying for a second run. A new run is read from offset 0."""
        caps = RunCaps(max_items=max_items, max_charge_usd=charge_left(job))
        limit = self.settings.apify_max_concurrent_runs
        if limit is not None and not await self.db(self.store.take_run_slot, job.id,
                                                   self.worker_id, limit):
            raise ProviderBusy(f"all APIFY_MAX_CONCURRENT_RUNS ({limit}) runs are in use")
        try:
            run = await self.provider.start_async(actor_id, run_input, caps)
        except ProviderError:
            if limit is not None:
                await self.db(self.store.release_run_slot, job.id)
            raise
        console = None if self.settings.uses_sandbox else CONSOLE_RUN_URL + run.run_id
        await self.write(job, apify_run_id=run.run_id, apify_dataset_id=run.dataset_id,
                         items_offset=0, console_url=console, **values)
        job.apify_run_id, job.apify_dataset_id, job.items_offset = run.run_id, run.dataset_id, 0
        self.note_run(job, run)
        bind(apify_run_id=run.run_id)
        # Not a transition of the job: its end line carries the run id.
        log.debug("job %s started Apify run %s on %s", job.id, run.run_id, actor_id)
        return run

    async def write(self, job: ScrapingJob, **values: Any) -> int:
        """Change a job this worker owns (with what is new of its run); LostJob if it is no
        longer ours."""
        return self.owned(job, await self.db(
            self.store.update_owned, job.id, self.worker_id,
            **{**self._take_news(job), **values}))

    async def ingest(self, job: ScrapingJob, **page: Any) -> int:
        """Save one page of items (Store.ingest's arguments), with what is new of its run,
        in a transaction shared with other jobs' pages (page_writes.py)."""
        return self.owned(job, await self._pages.write(PageWrite(
            job.id, self.worker_id, **page, values=self._take_news(job))))

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

    async def check_in(self, job: ScrapingJob, heartbeat: bool = True) -> None:
        """Between steps that call no run: hand back on a graceful stop, and (unless the
        step writes anyway) beat the heartbeat; LostJob once the job is no longer ours."""
        if self.stop.is_set():
            await self._hand_back(job)
            raise LostJob()
        await self._park_if_out_of_time(job, idle_seconds=0.0)
        self._raise_if_lost(job)
        if heartbeat and not await self.db(self.store.heartbeat, job.id, self.worker_id):
            raise LostJob()

    def _raise_if_lost(self, job: ScrapingJob) -> None:
        if job.id in self._lost:
            raise LostJob()

    async def follow(self, job: ScrapingJob, run_id: str, dataset_id: str, cursor: Cursor,
                     on_page: PageHandler) -> Outcome:
        """Read a run's dataset page by page from `cursor` until the run has ended and its
        last short page is read; `on_page` commits each page. How the run ended, or a
        timeout (the run aborted)."""
        outcome = await self._follow(job, run_id, dataset_id, cursor, on_page)
        if self.settings.apify_max_concurrent_runs is not None:  # the run is over
            await self.db(self.store.release_run_slot, job.id)
        return outcome

    async def _follow(self, job: ScrapingJob, run_id: str, dataset_id: str, cursor: Cursor,
                      on_page: PageHandler) -> Outcome:
        failures = quiet = 0
        base = max(MIN_LOOK_SECONDS, self.settings.poll_interval_seconds)
        while True:
            if self.stop.is_set():
                await self._hand_back(job)
                raise LostJob()
            await self._park_if_out_of_time(job, idle_seconds=self.clock() - cursor.last_news)
            self._raise_if_lost(job)
            looked = self.clock()
            try:
                outcome, found = await self._step(job, run_id, dataset_id, cursor, on_page)
            except (ProviderUnavailable, StoreUnavailable) as exc:
                # apify-client and the pool have retried already. A blip of the network, of
                # Apify or of the database is no reason to fail a job: keep trying until the
                # stall limit decides. A step commits whole or not at all, so it can repeat.
                failures += 1
                if self.clock() - cursor.last_news > self.settings.stall_timeout_seconds:
                    await self.abort_quietly(run_id)
                    return Outcome(Status.TIMEOUT, "No progress for STALL_TIMEOUT_SECONDS "
                                   f"({self.settings.stall_timeout_seconds:g} s): {exc.message}")
                log.warning("job %s: %s (try %d)", job.id, exc.message, failures)
                pause = min(30.0, base * 2 ** failures)
                deadline = self._budgets.get(job.id, Budget()).deadline
                if deadline is not None:  # a budgeted delivery parks on time, outage or not
                    pause = min(pause, max(0.0, deadline - self.clock()))
                await self.pause(pause)
                continue
            failures = 0
            if outcome is not None:
                return outcome
            if cursor.draining:
                continue  # more is waiting: read on without pausing
            # Items came: look again after the interval. None: wait longer each time.
            # The interval runs from the start of one look to the next, so the time a look
            # takes does not add up.
            quiet = 0 if found else quiet + 1
            interval = base * min(2 ** max(quiet - 1, 0), MAX_BACKOFF_FACTOR)
            await self.pause(looked + interval - self.clock())

    async def _step(self, job: ScrapingJob, run_id: str, dataset_id: str, cursor: Cursor,
                    on_page: PageHandler) -> tuple[Outcome | None, bool]:
        """One look at the dataset, after one at the run when that can tell something new:
        (how the job ended, if it did; whether the page held items)."""
        now = self.clock()
        # The run's status, read before the page, tells whether a short page is the last.
        # While pages come back full it cannot be, so draining skips that request; while
        # items flow the run is plainly going, and is read only for its message and cost.
        run = None
        if not cursor.draining and (not cursor.flowing
                                    or now - cursor.run_read >= RUN_NEWS_SECONDS):
            run = await self.provider.get_run_async(run_id)
            cursor.run_read = now
            self.note_run(job, run)
        page = await self.provider.items_page_async(dataset_id, cursor.offset,
                                                    self.settings.page_size)
        now = self.clock()
        found = cursor.flowing = bool(page.items)
        if found:
            await on_page(page, now)
            if cursor.done:  # the job holds what it asked for: pay for nothing more
                return await self._enough(job, run_id, run), True
        elif self._news.get(job.id):
            await self.write(job)
        cursor.draining = len(page.items) == self.settings.page_size
        if cursor.draining:
            return None, True
        if run is not None and run.status.finished:
            # The run ended before this short page was read, so nothing is left unread.
            return run_outcome(run), found
        if now - cursor.started > self.settings.job_timeout_seconds:
            await self.abort_quietly(run_id)
            return Outcome(Status.TIMEOUT, "The job ran longer than JOB_TIMEOUT_SECONDS "
                           f"({self.settings.job_timeout_seconds:g} s)"), found
        if now - cursor.last_news > self.settings.stall_timeout_seconds:
            await self.abort_quietly(run_id)
            return Outcome(Status.TIMEOUT, "The run yielded no new items for "
                           f"STALL_TIMEOUT_SECONDS ({self.settings.stall_timeout_seconds:g} s)"
                           ), found
        return None, found

    async def _wait_for_capacity(self, job: ScrapingJob, busy: ProviderBusy) -> Outcome | None:
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
        version = await self.db(
            self.store.update_owned, job.id, self.worker_id, status=Status.PENDING,
            worker_id=None, not_before=now + timedelta(seconds=wait),
            run_status_message=f"Waiting for Apify capacity; trying again in {wait:g} s "
                               f"({busy.message})")
        if version is None:
            return None
        self._announce(job, version)
        log.info("job %s back to pending for %g s, no Apify capacity: %s", job.id, wait,
                 busy.message, extra=job_fields(job, status=Status.PENDING.value))
        try:
            await self.db(self.requeue, job.id, wait)
        except QueueUnavailable as exc:  # the reaper queues it once it is due
            log.warning("job %s not queued again yet: %s", job.id, exc.message)
        return None

    async def _enough(self, job: ScrapingJob, run_id: str, run: RunInfo | None) -> Outcome:
        """The job has all it asked for: the run, if still going, is aborted, and what it
        cost in the end is read."""
        if run is None or not run.status.finished:
            await self.abort_quietly(run_id)
        with contextlib.suppress(ProviderError):
            self.note_run(job, await self.provider.get_run_async(run_id))
        return Outcome(Status.COMPLETED)

    async def _retry_store_write(self, write: Callable[[], T]) -> T:
        """A short write, tried again through a database blip (a restart, a full pool) for
        up to the heartbeat timeout before the reaper's slower path takes over."""
        deadline = self.clock() + self.settings.heartbeat_timeout_seconds
        delay = 0.1
        while True:
            try:
                return await self.db(write)
            except StoreUnavailable:
                if self.clock() + delay > deadline or self.stop.is_set():
                    raise
                await self.pause(delay)
                delay = min(delay * 2, 2.0)

    def owned(self, job: ScrapingJob, version: int | None) -> int:
        """A write's new version, announced; LostJob if the job was no longer ours."""
        if version is None:
            raise LostJob()
        self._announce(job, version)
        return version

    def _announce(self, job: ScrapingJob, version: int, final: bool = False) -> None:
        """Say the job changed. Notices made in one turn of the loop (a group commit answers
        many jobs at once) leave together after it, off the loop: publishing is a round trip
        to Redis, or a NOTIFY transaction."""
        if not self._announced:
            asyncio.get_running_loop().call_soon(self._send_announced)
        self._announced.append((Notice(job.id, job.campaign_id, version), final))

    def _send_announced(self) -> None:
        announced, self._announced = self._announced, []
        self._notices.submit(self._publish, announced)

    def _publish(self, announced: list[tuple[Notice, bool]]) -> None:
        changed = [notice for notice, final in announced if not final]
        if changed:
            self.publisher.publish(*changed)
        ended = [notice for notice, final in announced if final]
        if ended:
            self.publisher.publish(*ended, final=True)

    async def _hand_back(self, job: ScrapingJob) -> None:
        """On a graceful stop the job goes back to the queue, to resume at its saved offset."""
        version = await self.db(self.store.update_owned, job.id, self.worker_id,
                                status=Status.PENDING, worker_id=None)
        if version is not None:
            self._announce(job, version)
            log.info("job %s handed back to the queue: this worker is stopping", job.id,
                     extra=job_fields(job, status=Status.PENDING.value))
            await self.db(self._requeue_quietly, job.id, "handed back")

    async def _park_if_out_of_time(self, job: ScrapingJob, idle_seconds: float) -> None:
        """Past its delivery's deadline a job is parked, to go on in the next delivery."""
        deadline = self._budgets.get(job.id, Budget()).deadline
        if deadline is not None and self.clock() >= deadline:
            raise _OutOfTime(await self._park(job, idle_seconds))

    async def _park(self, job: ScrapingJob, idle_seconds: float) -> Parked | None:
        """At the end of a time budget the job stays `processing` (watchers see no flip back
        to pending) but is no one's, so the next delivery can claim it at once."""
        version = await self.db(self.store.update_owned, job.id, self.worker_id,
                                worker_id=None)
        if version is None:
            return None
        self._announce(job, version)
        return Parked(job.id, version, idle_seconds)

    async def abort_quietly(self, run_id: str | None) -> None:
        if run_id is None:
            return
        try:
            await self.provider.abort_async(run_id)
        except ProviderError as exc:
            log.warning("could not abort run %s: %s", run_id, exc.message)


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)
