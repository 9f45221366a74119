"""The baseline: a bare ASGI broadcast loop, no framework.

It keeps every connection's `send` and, 10 times a second, writes the same pre-encoded frame
(a status JSON of the product's shape, `updatedAt` = now) to all of them from one loop. Each
write is stepped inline and becomes a Task only if the client's buffer is full, the cheapest
way to fan out over uvicorn that DESIGN.md measured.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from scrapetrack.events.drive import drive

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Scope = dict[str, Any]

HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
           (b"cache-control", b"no-cache")]


def status(version: int, job_id: str, campaign_id: str) -> dict[str, Any]:
    """A job status like the product's `job_status`, so the frames are the same size."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"id": job_id, "status": "processing", "progress": version % 100,
            "processedResults": version, "targetResults": 10000, "error": None,
            "platform": "tiktok", "kind": "keyword", "campaignId": campaign_id,
            "keywords": ["bench"], "targetUsername": None, "stage": "scraping",
            "creatorsCount": 0, "skippedItems": 0, "ratePerSecond": 10.0,
            "etaSeconds": 999.9, "version": version, "createdAt": now, "updatedAt": now,
            "startedAt": now, "finishedAt": None}


class Broadcast:
    def __init__(self, hz: float = 10.0) -> None:
        self.interval = 1.0 / hz
        self.sends: dict[Send, bool] = {}  # send -> a write is in flight
        self.version = 0
        self.job_id, self.campaign_id = str(uuid.uuid4()), str(uuid.uuid4())
        self._ticker: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"].endswith("/events"):
            await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
            await send({"type": "http.response.body", "body": b"retry: 2000\n\n",
                        "more_body": True})
            self.sends[send] = False
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
            finally:
                self.sends.pop(send, None)
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"ok"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._ticker = asyncio.create_task(self._tick())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._ticker is not None:
                    self._ticker.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.version += 1
            payload = json.dumps(status(self.version, self.job_id, self.campaign_id),
                                 separators=(",", ":"))
            frame = f"id: {self.version}\nevent: progress\ndata: {payload}\n\n".encode()
            message: Message = {"type": "http.response.body", "body": frame, "more_body": True}
            for send, busy in list(self.sends.items()):
                if not busy:
                    self._write(send, message)

    def _write(self, send: Send, message: Message) -> None:
        pending = drive(send(message))
        if pending is None:
            return
        # The client's buffer is full (or it left): skip it until this write is done.
        self.sends[send] = True
        pending.add_done_callback(lambda done: self._drained(send, done))

    def _drained(self, send: Send, done: asyncio.Future[None]) -> None:
        if done.cancelled() or done.exception() is not None:
            self.sends.pop(send, None)
        elif send in self.sends:
            self.sends[send] = False


