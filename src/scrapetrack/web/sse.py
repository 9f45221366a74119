"""The Server-Sent Events response: registers a watcher with the hub and waits.

The hub writes frames straight to this connection's `send`; this response only starts the
stream, waits for the client to leave (or the stream to end), and unregisters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from scrapetrack.events.hub import Hub, Watcher
from scrapetrack.events.slots import StreamSlots
from scrapetrack.store.models import ScrapingJob
from scrapetrack.web.errors import error

HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
           (b"cache-control", b"no-cache, no-transform"),
           (b"x-accel-buffering", b"no"),  # nginx: pass each frame on at once
           (b"connection", b"keep-alive")]
# A client that connects with no Last-Event-ID first gets this, so it retries quickly.
RETRY = b"retry: 2000\n\n"


RAW_SEND = "scrapetrack.raw_send"


class StreamingApp(FastAPI):
    """Keeps the server's own `send` in the scope. Every middleware between it and a route,
    Starlette's error handler included, only cares about a response's start; an event stream
    writes its many body frames straight to the server, a few stack frames cheaper each."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND] = send
        await super().__call__(scope, receive, send)


class EventStream(Response):
    def __init__(self, hub: Hub, register: Callable[[Hub, Watcher], None],
                 ends_with: str | None = None, last_seen: dict[str, int] | None = None,
                 slot: tuple[StreamSlots, str] | None = None) -> None:
        super().__init__()
        self.hub = hub
        self.register = register
        self.ends_with = ends_with
        self.last_seen = last_seen or {}
        self.slot = slot  # the per-user cap and the user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.slot is None:
            await self._stream(scope, receive, send)
            return
        slots, user_id = self.slot
        ticket = await slots.take(user_id)
        if ticket is None:  # the same answer errors.py gives TooManyStreams
            refusal = slots.refusal()
            response = error(429, refusal.message)
            response.headers["Retry-After"] = str(refusal.retry_after)
            await response(scope, receive, send)
            return
        try:
            await self._stream(scope, receive, send)
        finally:
            await slots.give_back(user_id, ticket)

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        send = scope.get(RAW_SEND, send)
        await send({"type": "http.response.body", "body": RETRY, "more_body": True})
        watcher = Watcher(send, ends_with=self.ends_with)
        watcher.seen.update(self.last_seen)
        left = asyncio.ensure_future(_disconnected(receive))
        try:
            self.register(self.hub, watcher)
            await asyncio.wait([left, watcher.done], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.hub.unwatch(watcher)
            left.cancel()
        if watcher.done.done() and not left.done():
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def job_stream(hub: Hub, job: ScrapingJob, last_event_id: int | None,
               slot: tuple[StreamSlots, str] | None = None) -> EventStream:
    return EventStream(hub, lambda h, w: h.watch_job(w, job), ends_with=job.id,
                       last_seen={job.id: last_event_id} if last_event_id else None, slot=slot)


def campaign_stream(hub: Hub, campaign_id: str, jobs: Sequence[ScrapingJob],
                    slot: tuple[StreamSlots, str] | None = None) -> EventStream:
    return EventStream(hub, lambda h, w: h.watch_campaign(w, campaign_id, jobs), slot=slot)
