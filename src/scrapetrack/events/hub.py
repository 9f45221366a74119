"""One hub per web process: it reads each changed job once and fans the frame out.

Cost per watcher never touches the database: a change (a bus notice, or the safety poll) marks
jobs dirty; one loop reads the dirty ones in one query at most `max_hz` times a second (each
one's status JSON, kept by its writer with the change), makes each an SSE frame once, and hands
the same bytes to every watcher. A watcher keeps only the
newest frame per job while its client is slow, so a slow client never delays the others and
never gets a backlog.

The hub follows on the bus each campaign it has watchers for (of the campaign, or of one of its
jobs): a bus that routes by campaign then carries only those campaigns' notices.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from scrapetrack.events.base import Bus, Notice, Resync
from scrapetrack.events.drive import drive
from scrapetrack.jobs import TERMINAL
from scrapetrack.serializers import JobView, view_of
from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import Store

if TYPE_CHECKING:
    from scrapetrack.metrics import Metrics

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
PING = b": ping\n\n"
# A safety poll due while notices flow waits up to this long to ride on a notice's read.
SAFETY_DEFER_SECONDS = 1.0


def encode(event_id: int, payload: str) -> bytes:
    return f"id: {event_id}\nevent: progress\ndata: {payload}\n\n".encode()


class Watcher:
    """One SSE connection: the newest frame per job while its client is busy, nothing more."""

    __slots__ = ("_busy", "_closing", "_ended", "_ends_with", "_final", "_pending", "_send",
                 "credentials", "seen")

    def __init__(self, send: Send, ends_with: str | None = None,
                 credentials: tuple[str, ...] = ()) -> None:
        self._send = send
        self._ends_with = ends_with  # a job stream ends after this job's terminal status
        # The tokens, codes or sessions the stream was opened with: it ends once one of them
        # no longer stands (revoked, expired, its user removed).
        self.credentials = credentials
        self._busy = False
        self._closing = False
        self._ended = False
        self._final = False
        self._pending: dict[str, bytes] | None = None  # only while the client is busy
        self.seen: dict[str, int] = {}

    @property
    def ended(self) -> bool:
        return self._ended

    def on_end(self) -> None:
        """Called once, when the stream has ended: a subclass wakes whatever waits on it."""

    def offer(self, job_id: str, version: int, frame: bytes, terminal: bool) -> None:
        seen = self.seen
        if self._ended or seen.get(job_id, 0) >= version:
            return
        seen[job_id] = version
        final = terminal and job_id == self._ends_with
        if self._busy:
            if self._pending is None:
                self._pending = {}
            self._pending[job_id] = frame  # newest replaces older: no backlog
            self._final = self._final or final
        else:
            self._write(frame, final)

    def ping(self) -> None:
        if not self._busy and not self._ended:
            self._write(PING, False)

    def close(self) -> None:
        """End the stream once any write in flight has finished."""
        self._closing = True
        if not self._busy:
            self._finish()

    def _write(self, frame: bytes, final: bool) -> None:
        pending = drive(self._send({"type": "http.response.body", "body": frame,
                                    "more_body": True}))
        if pending is None:
            if final or self._closing:
                self._finish()
            return
        self._busy = True
        pending.add_done_callback(lambda f: self._drained(f, final))

    def _drained(self, written: asyncio.Future[None], final: bool) -> None:
        self._busy = False
        if written.cancelled() or written.exception() is not None:
            self._finish()  # the client is gone
        elif final or self._closing:
            self._finish()
        elif self._pending:
            frames = b"".join(self._pending.values())
            self._pending = None
            final, self._final = self._final, False
            self._write(frames, final)

    def _finish(self) -> None:
        if not self._ended:
            self._ended = True
            self.on_end()


class _Read(NamedTuple):
    job_ids: list[str]
    campaign_ids: list[str]
    full: bool  # everything watched, after a RESYNC or a safety poll
    started: float  # loop time


@dataclass(slots=True)
class JobState:
    version: int
    campaign_id: str
    terminal: bool
    payload: str
    job_frame: bytes  # id: the job's version, so Last-Event-ID resumes a job stream
    # id: the hub's sequence, increasing across a campaign's jobs; encoded once a campaign
    # stream needs it
    campaign_frame: bytes | None = None


class Hub:
    # Reads are capped per process, not per job: a job changes at most ~10 times a second (the
    # workers coalesce), and a higher cap keeps the wait for the next read short.
    def __init__(self, store: Store, bus: Bus, *, max_hz: float = 25.0,
                 heartbeat_seconds: float = 15.0, credential_check_seconds: float = 10.0,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.credential_check_seconds = credential_check_seconds
        self.metrics = metrics  # counts the open streams
        self.bus = bus
        self.min_interval = 1.0 / max_hz
        self.heartbeat_seconds = heartbeat_seconds
        self._jobs: dict[str, JobState] = {}
        self._job_watchers: dict[str, set[Watcher]] = {}
        self._campaign_watchers: dict[str, set[Watcher]] = {}
        # The watched jobs of each campaign, and each one's campaign: with the campaign
        # watchers, what the bus follows.
        self._campaign_jobs: dict[str, set[str]] = {}
        self._job_campaign: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._dirty_campaigns: set[str] = set()
        self._full_read = True
        self._wake = asyncio.Event()
        self._read_requested = False
        self._last_read = -math.inf  # loop time of the last read
        self._next_poll = math.inf  # loop time of the next safety poll (set by _run)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="hub-read")
        # Campaign frame ids: microseconds, so they keep increasing across restarts too.
        self._seq = time.time_ns() // 1000

    @property
    def watchers(self) -> int:
        return sum(map(len, self._job_watchers.values())) + sum(
            map(len, self._campaign_watchers.values()))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self.bus.listen(self._deliver), name="hub-listen"),
                       asyncio.create_task(self._run(), name="hub-run"),
                       asyncio.create_task(self._check_credentials(), name="hub-credentials")]

    def close_streams(self) -> None:
        """End every stream (on shutdown), so the server can stop within its grace period."""
        self._closed = True
        for group in (*self._job_watchers.values(), *self._campaign_watchers.values()):
            for watcher in list(group):
                watcher.close()

    def close_streams_threadsafe(self) -> None:
        """close_streams from a signal handler or another thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.close_streams)

    async def stop(self) -> None:
        self.close_streams()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        # A read still running holds a pooled connection: it ends before the store may close.
        await asyncio.get_running_loop().run_in_executor(None, self._reader.shutdown)

    # watchers -----------------------------------------------------------------------------
    def watch_job(self, watcher: Watcher, snapshot: JobView) -> None:
        # A notice of the job that came after its snapshot was read, while nobody here
        # watched it, was not kept. Unless a subscription's confirmation is to come (and
        # prompt a read of the campaign's watched jobs), the job is read again for it.
        missed = False
        if snapshot.id not in self._job_watchers:
            followed = self._followed(snapshot.campaign_id)
            missed = (followed or not self.bus.routes_by_campaign) \
                and snapshot.campaign_id not in self._campaign_watchers
            if not followed:
                self.bus.follow(snapshot.campaign_id)
            self._campaign_jobs.setdefault(snapshot.campaign_id, set()).add(snapshot.id)
            self._job_campaign[snapshot.id] = snapshot.campaign_id
        self._job_watchers.setdefault(snapshot.id, set()).add(watcher)
        if self.metrics is not None:
            self.metrics.stream_opened()
        if self._closed:
            watcher.close()
            return
        self._update_state(snapshot)
        state = self._jobs[snapshot.id]
        watcher.offer(snapshot.id, state.version, state.job_frame, state.terminal)
        if state.terminal and watcher.seen.get(snapshot.id, 0) >= state.version:
            watcher.close()  # nothing will ever follow
            return
        if missed:
            self._dirty.add(snapshot.id)
            self._request_read()

    def watch_campaign(self, watcher: Watcher, campaign_id: str,
                       snapshot: Sequence[JobView]) -> None:
        first = campaign_id not in self._campaign_watchers
        if first and not self._followed(campaign_id):
            self.bus.follow(campaign_id)
        self._campaign_watchers.setdefault(campaign_id, set()).add(watcher)
        if self.metrics is not None:
            self.metrics.stream_opened()
        if self._closed:
            watcher.close()
            return
        for view in snapshot:
            self._update_state(view)
        for state_id, state in self._jobs.items():
            if state.campaign_id == campaign_id:
                watcher.offer(state_id, state.version, self._campaign_frame(state), False)
        if first:  # a job created between the snapshot and now must not wait for a poll
            self._dirty_campaigns.add(campaign_id)
            self._request_read()

    def unwatch(self, watcher: Watcher) -> None:
        for groups in (self._job_watchers, self._campaign_watchers):
            for key in [k for k, group in groups.items() if watcher in group]:
                groups[key].discard(watcher)
                if not groups[key]:
                    del groups[key]
                    campaign_id = key if groups is self._campaign_watchers \
                        else self._forget_job_campaign(key)
                    if not self._followed(campaign_id):
                        self.bus.unfollow(campaign_id)
                if self.metrics is not None:
                    self.metrics.stream_closed()

    def _followed(self, campaign_id: str) -> bool:
        """Whether the campaign has watchers here, of it or of one of its jobs: then the bus
        follows it."""
        return campaign_id in self._campaign_watchers or campaign_id in self._campaign_jobs

    def _forget_job_campaign(self, job_id: str) -> str:
        """The campaign of a job that lost its last watcher, which no longer counts there."""
        campaign_id = self._job_campaign.pop(job_id)
        jobs = self._campaign_jobs[campaign_id]
        jobs.discard(job_id)
        if not jobs:
            del self._campaign_jobs[campaign_id]
        return campaign_id

    # the loop -----------------------------------------------------------------------------
    def _deliver(self, item: Notice | Resync) -> None:
        """A notice (or a resync) from the bus, inside the loop's turn that received it."""
        if isinstance(item, Notice):
            known = self._jobs.get(item.job_id)
            if known is not None and known.version >= item.version:
                return
            if item.job_id not in self._job_watchers \
                    and item.campaign_id not in self._campaign_watchers:
                return
            self._dirty.add(item.job_id)
        elif item.campaign_id is None:  # RESYNC: we may have missed notices
            self._full_read = True
        else:  # a campaign's subscription is live: read what changed before it was
            if item.campaign_id in self._campaign_watchers:
                self._dirty_campaigns.add(item.campaign_id)
            self._dirty.update(self._campaign_jobs.get(item.campaign_id, ()))
        self._request_read()

    def _request_read(self) -> None:
        """There is something to read (a notice, a RESYNC, a new campaign watcher): read it
        at once when the store is a local file and the rate cap allows, else wake the loop."""
        self._read_requested = True
        if (self.store.local and self._loop is not None
                and self._loop.time() - self._last_read >= self.min_interval):
            # A SQLite read of a few rows takes tens of µs from a local file, and WAL readers
            # never wait for writers: here, it saves the change a second turn of the loop.
            self._read_requested = False
            self._read_local()
        else:
            self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._next_poll = loop.time() + self.bus.safety_poll_seconds
        next_ping = loop.time() + self.heartbeat_seconds
        # One timer for the next ping or safety poll, moved only when that deadline moves: a
        # change then costs the process a single wake-up (its notice), not a timer's too.
        # (uvloop answers call_at with a plain Handle, without when(), for a time already
        # past: the deadline armed is kept here.)
        alarm: asyncio.Handle | None = None
        armed = math.nan
        try:
            while True:
                due = min(self._next_poll, next_ping)
                if due != armed:
                    if alarm is not None:
                        alarm.cancel()
                    alarm, armed = loop.call_at(due, self._wake.set), due
                await self._wake.wait()
                self._wake.clear()
                now = loop.time()
                requested, self._read_requested = self._read_requested, False
                if now >= next_ping:
                    next_ping = now + self.heartbeat_seconds
                    self._ping_all()
                if now >= self._next_poll:
                    self._full_read = True
                    self._next_poll = now + self.bus.safety_poll_seconds
                    if not requested and now - self._last_read < SAFETY_DEFER_SECONDS:
                        # Notices are flowing: the next one's read covers every watched job
                        # instead, so the safety poll costs no query of its own.
                        self._next_poll = now + SAFETY_DEFER_SECONDS
                        continue
                elif not requested:
                    armed = math.nan  # woken a little early (timers round): arm it again
                    continue
                # At most max_hz reads a second: notices arriving meanwhile coalesce.
                if (wait := self.min_interval - (now - self._last_read)) > 0:
                    await asyncio.sleep(wait)
                if self.store.local:
                    self._read_local()
                else:
                    await self._read_remote()
        finally:
            if alarm is not None:
                alarm.cancel()

    async def _check_credentials(self) -> None:
        """Every credential_check_seconds, one read for every stream of the process: a
        stream whose token, session or user no longer stands ends, in every web process
        (each checks its own), however it was revoked."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.credential_check_seconds)
            watchers = [w for group in self._groups() for w in group if w.credentials]
            if not watchers:
                continue
            wanted = {credential for w in watchers for credential in w.credentials}
            try:
                live = await loop.run_in_executor(self._reader, self.store.live_credentials,
                                                  wanted, utcnow())
            except Exception:  # the database may be restarting: the next check tries again
                log.exception("the hub could not check its streams' credentials")
                continue
            for watcher in watchers:
                if not live.issuperset(watcher.credentials):
                    watcher.close()

    def _read_failed(self) -> None:
        # The database may be restarting: the next poll tries again, and reads everything.
        # (Never raised further: a read runs inside the bus's callback or the hub's loop.)
        log.exception("the hub could not read job states")
        self._full_read = True

    def _next_read(self) -> _Read | None:
        """What to read next: what changed, or everything watched after a RESYNC or a
        safety poll (then `full`); None when there is nothing to read."""
        assert self._loop is not None
        full = self._full_read
        if full:
            self._full_read = False
            self._dirty.clear()
            self._dirty_campaigns.clear()
            self._forget_unwatched()
            job_ids, campaign_ids = list(self._job_watchers), list(self._campaign_watchers)
        else:
            job_ids, self._dirty = list(self._dirty), set()
            campaign_ids, self._dirty_campaigns = list(self._dirty_campaigns), set()
        if not job_ids and not campaign_ids:
            return None
        return _Read(job_ids, campaign_ids, full, self._loop.time())

    def _read_local(self) -> None:
        if (read := self._next_read()) is not None:
            try:
                self._deliver_rows(read, self._views(read.job_ids, read.campaign_ids))
            except Exception:
                self._read_failed()

    async def _read_remote(self) -> None:
        """A network round trip: on a thread of its own, one read at a time."""
        if (read := self._next_read()) is not None:
            assert self._loop is not None
            try:
                self._deliver_rows(read, await self._loop.run_in_executor(
                    self._reader, self._views, read.job_ids, read.campaign_ids))
            except Exception:
                self._read_failed()

    def _views(self, job_ids: Sequence[str], campaign_ids: Sequence[str]) -> list[JobView]:
        """The jobs read as rows, each version rendered here once (the store keeps data)."""
        return [view_of(row) for row in self.store.job_states(job_ids, campaign_ids)]

    def _deliver_rows(self, read: _Read, views: Iterable[JobView]) -> None:
        self._last_read = read.started
        if read.full:
            self._next_poll = read.started + self.bus.safety_poll_seconds
        for view in views:
            self._update_state(view, broadcast=True)

    def _update_state(self, view: JobView, broadcast: bool = False) -> None:
        """Keep the newer of what we hold and `view`; on news, deliver it to its watchers."""
        known = self._jobs.get(view.id)
        if known is not None and known.version >= view.version:
            return
        state = JobState(view.version, view.campaign_id, view.status in TERMINAL,
                         view.payload, encode(view.version, view.payload))
        self._jobs[view.id] = state
        if not broadcast:
            return
        job_id, version = view.id, view.version  # locals: this loop runs per watcher
        if watchers := self._job_watchers.get(job_id):
            frame, terminal = state.job_frame, state.terminal
            for watcher in watchers:
                watcher.offer(job_id, version, frame, terminal)
        if campaign := self._campaign_watchers.get(view.campaign_id):
            frame = self._campaign_frame(state)
            for watcher in campaign:
                watcher.offer(job_id, version, frame, False)

    def _campaign_frame(self, state: JobState) -> bytes:
        if state.campaign_frame is None:
            self._seq = max(self._seq + 1, time.time_ns() // 1000)
            state.campaign_frame = encode(self._seq, state.payload)
        return state.campaign_frame

    def _ping_all(self) -> None:
        for group in self._groups():
            for watcher in group:
                watcher.ping()

    def _groups(self) -> Iterable[set[Watcher]]:
        yield from self._job_watchers.values()
        yield from self._campaign_watchers.values()

    def _forget_unwatched(self) -> None:
        self._jobs = {job_id: state for job_id, state in self._jobs.items()
                      if job_id in self._job_watchers
                      or state.campaign_id in self._campaign_watchers}
