"""The Server-Sent Events response: checks, headers, then the stream outside the request stack.

A stream lasts minutes to hours, so what it holds is held once per open connection. The route,
its dependencies, its database rows and every middleware's frame are needed only until the
response's headers are out: then the response hands the rest of the stream to `StreamingApp`,
the outermost layer, and returns, and all of that is freed. The hub writes frames straight to
the server's `send`; the stream only waits for the client to leave (or the stream to end) and
unregisters.

Why not Starlette's `StreamingResponse`: it keeps the whole request stack and a second task
(its wait for the client to leave) for the life of each stream, and wakes a task and every
middleware's `send` wrapper for each frame. Measured side by side with this design, it missed
the memory and CPU limits per open stream and dropped connections at 5,000 watchers (see
docs/performance.md, "Streams on standard parts").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from scrapetrack.events.hub import Hub, Watcher
from scrapetrack.events.slots import StreamSlots
from scrapetrack.serializers import JobView
from scrapetrack.web.errors import error

HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
           (b"cache-control", b"no-cache, no-transform"),
           (b"x-accel-buffering", b"no"),  # nginx: pass each frame on at once
           (b"connection", b"keep-alive")]
# A client that connects with no Last-Event-ID first gets this, so it retries quickly.
RETRY = b"retry: 2000\n\n"
# Where a stream's response leaves the rest of its stream for StreamingApp: a list in the
# scope, shared even with a layer that copies the scope.
HANDOFF = "scrapetrack.stream"


class StreamingApp(FastAPI):
    """Runs the event streams that responses handed over, once the request stack is gone."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        handed: list[Stream] = []
        # The stack gets a copy: what it adds (exit stacks, the route, the session) goes with
        # it, while the server keeps the scope as long as the connection.
        try:
            await super().__call__({**scope, HANDOFF: handed}, receive, send)
        except BaseException:
            for stream in handed:
                await stream.abandon()
            raise
        while handed:  # no iterator left in this frame while the stream runs
            await handed.pop().run(receive, send)


class Stream:
    """What an open stream keeps, and its life once handed over: of a stream's request, only
    this outlives the request stack."""

    __slots__ = ("credentials", "ends_with", "hub", "last_seen", "register", "slot", "ticket")

    def __init__(self, hub: Hub, register: Callable[[Hub, Watcher], None],
                 credentials: tuple[str, ...], ends_with: str | None = None,
                 last_seen: dict[str, int] | None = None,
                 slot: tuple[StreamSlots, str] | None = None) -> None:
        self.hub = hub
        self.credentials = credentials
        self.register: Callable[[Hub, Watcher], None] | None = register  # None once done
        self.ends_with = ends_with
        self.last_seen = last_seen
        self.slot = slot  # the per-user cap and the user
        self.ticket: str | None = None  # the slot taken

    async def abandon(self) -> None:
        """Give back the slot of a stream that will not run, or has ended."""
        if self.slot is not None and self.ticket is not None:
            slots, user_id = self.slot
            ticket, self.ticket = self.ticket, None
            await slots.give_back(user_id, ticket)

    async def run(self, receive: Receive, send: Send) -> None:
        """Outside the request stack, on the server's own `send`: wait for the client to leave
        or the stream to end, whichever comes first."""
        try:
            await send({"type": "http.response.body", "body": RETRY, "more_body": True})
            watcher = _StreamWatcher(send, ends_with=self.ends_with, credentials=self.credentials)
            if self.last_seen:
                watcher.seen.update(self.last_seen)
            # The client's leaving only shows as `http.disconnect` from `receive`, so this task
            # waits on it, and the stream's end cancels that wait: no second task per stream.
            task = asyncio.current_task()
            assert task is not None
            ended = True
            try:
                self._register(watcher)
                if not watcher.ended:
                    watcher.waiting = task
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    ended = False
            except asyncio.CancelledError:
                if not (watcher.ended and task.uncancel() == 0):
                    raise  # not our own interruption: it goes on
            finally:
                watcher.waiting = None
                self.hub.unwatch(watcher)
            if ended:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self.abandon()

    def _register(self, watcher: Watcher) -> None:
        # The snapshot the registration carries is the hub's now: the stream drops it.
        register, self.register = self.register, None
        assert register is not None, "an event stream runs once"
        register(self.hub, watcher)


class _StreamWatcher(Watcher):
    """A stream's watcher: its end cancels the task waiting on the client, if one is."""

    __slots__ = ("waiting",)

    def __init__(self, send: Send, ends_with: str | None,
                 credentials: tuple[str, ...]) -> None:
        super().__init__(send, ends_with, credentials)
        self.waiting: asyncio.Task[Any] | None = None

    def on_end(self) -> None:
        # At once, not from a callback scheduled later: by then the task may have gone on to
        # what follows its wait (giving back its slot), and that must not be cancelled.
        if self.waiting is not None:
            self.waiting.cancel()


class EventStream(Response):
    """The response, inside the request stack: the per-user cap, then the headers (through
    every middleware, which may add its own), then it hands its stream over."""

    def __init__(self, stream: Stream) -> None:
        super().__init__()
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = self.stream
        if stream.slot is not None:
            slots, user_id = stream.slot
            stream.ticket = await slots.take(user_id)
            if stream.ticket is None:  # the same answer errors.py gives TooManyStreams
                refusal = slots.refusal()
                response = error(429, refusal.message)
                response.headers["Retry-After"] = str(refusal.retry_after)
                await response(scope, receive, send)
                return
        try:
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        except BaseException:
            await stream.abandon()
            raise
        scope[HANDOFF].append(stream)


def job_stream(hub: Hub, job: JobView, last_event_id: int | None,
               credentials: tuple[str, ...],
               slot: tuple[StreamSlots, str] | None = None) -> EventStream:
    return EventStream(Stream(
        hub, lambda h, w: h.watch_job(w, job), credentials, ends_with=job.id,
        last_seen={job.id: last_event_id} if last_event_id else None, slot=slot))


def campaign_stream(hub: Hub, campaign_id: str, jobs: Sequence[JobView],
                    credentials: tuple[str, ...],
                    slot: tuple[StreamSlots, str] | None = None) -> EventStream:
    return EventStream(Stream(hub, lambda h, w: h.watch_campaign(w, campaign_id, jobs),
                              credentials, slot=slot))
