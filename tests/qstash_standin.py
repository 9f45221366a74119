"""A QStash stand-in on a real socket: it accepts the `qstash` SDK's publish calls and delivers
each message to its destination signed exactly as QStash signs (an HS256 JWT with `iss`
"Upstash", `sub` the destination URL, `body` the base64url SHA-256 of the body, and
`exp`/`nbf`/`iat`/`jti`), honouring Upstash-Delay, Upstash-Not-Before and
Upstash-Deduplication-Id, and retrying a non-2xx answer with exponential backoff.

Tests steer it: `hold` keeps messages until `release()`, `drop` discards the published messages
it matches, `sign_with` picks the current or the next signing key, and `deliver_copies` sends
one message several times at once, as QStash may.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from scrapetrack.serving import serve_in_thread

DELAY = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def body_hash(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode()


def sign(content: bytes, url: str, key: str, *, now: float | None = None,
         algorithm: str = "HS256", **claims: Any) -> str:
    """The Upstash-Signature QStash sends with `content` to `url`; a claim given as None is
    left out, any other given claim replaces QStash's."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {
        "iss": "Upstash", "sub": url, "exp": issued + 300, "nbf": issued, "iat": issued,
        "jti": f"jwt_{uuid.uuid4().hex}", "body": body_hash(content)}
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not None}
    # PyJWT takes "" as no key, which the "none" algorithm requires.
    return jwt.encode(payload, key if algorithm != "none" else "", algorithm=algorithm)


@dataclass
class Message:
    id: str
    destination: str
    body: bytes
    content_type: str
    published_at: float
    delay: float
    dedup_id: str | None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Attempt:
    message_id: str
    retried: int
    status: int  # 0: no answer (connection refused, reset, timeout)


@dataclass
class QStashStandIn:
    token: str
    current_key: str
    next_key: str
    retries: int = 3
    backoff: Callable[[int], float] = lambda retried: min(2.0, 0.2 * 2 ** retried)
    dedup_seconds: float = 90.0
    sign_with: str = "current"
    url: str = ""
    published: list[Message] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    dropped: list[Message] = field(default_factory=list)
    drop: Callable[[Message], bool] = lambda _message: False

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._due: list[tuple[float, int, Message, int]] = []  # (when, seq, message, retried)
        self._seq = itertools.count()
        self._dedup: dict[str, float] = {}
        self._held: list[Message] = []
        self.hold = False
        self._stop = False
        self._http = httpx.Client(timeout=60)
        self._threads: list[threading.Thread] = []

    # what tests look at -----------------------------------------------------------------
    def messages_for(self, job_id: str) -> list[Message]:
        with self._lock:
            return [m for m in self.published if m.json().get("jobId") == job_id]

    def answers(self, message_ids: set[str]) -> list[Attempt]:
        with self._lock:
            return [a for a in self.attempts if a.message_id in message_ids]

    def held(self) -> list[Message]:
        with self._lock:
            return list(self._held)

    def release(self) -> None:
        """Deliver what `hold` kept, and stop holding."""
        with self._lock:
            self.hold = False
            held, self._held = self._held, []
            for message in held:
                self._schedule(message, time.monotonic(), 0)

    def signature(self, message: Message) -> str:
        key = self.current_key if self.sign_with == "current" else self.next_key
        return sign(message.body, message.destination, key)

    def deliver_copies(self, message: Message, copies: int) -> list[int]:
        """Deliver `message` `copies` times at once (a barrier lines them up); the answers."""
        barrier = threading.Barrier(copies)
        statuses: list[int] = []

        def one() -> None:
            barrier.wait()
            statuses.append(self._post(message, retried=0))

        threads = [threading.Thread(target=one) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        return statuses

    # the publish API the SDK calls --------------------------------------------------------
    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v2/publish/{destination:path}")
        async def publish(destination: str, request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return JSONResponse({"error": "Unauthorized"}, status_code=401)
            if not destination.startswith(("http://", "https://")):
                return JSONResponse({"error": f"invalid destination: {destination}"}, 400)
            delay = 0.0
            if raw := request.headers.get("upstash-delay"):
                match = DELAY.match(raw)
                if match is None:
                    return JSONResponse({"error": f"invalid Upstash-Delay: {raw}"}, 400)
                delay = int(match[1]) * UNITS[match[2]]
            if raw := request.headers.get("upstash-not-before"):
                delay = max(delay, int(raw) - time.time())
            message = Message(f"msg_{uuid.uuid4().hex}", destination, await request.body(),
                              request.headers.get("content-type", "application/json"),
                              time.monotonic(), delay,
                              request.headers.get("upstash-deduplication-id"))
            return JSONResponse(self._accept(message))

        return app

    def _accept(self, message: Message) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if message.dedup_id is not None:
                seen = self._dedup.get(message.dedup_id)
                if seen is not None and now - seen < self.dedup_seconds:
                    return {"messageId": message.id, "deduplicated": True}
                self._dedup[message.dedup_id] = now
            self.published.append(message)
            if self.drop(message):
                self.dropped.append(message)
            elif self.hold:
                self._held.append(message)
            else:
                self._schedule(message, now + message.delay, 0)
            return {"messageId": message.id}

    # delivery -----------------------------------------------------------------------------
    def _schedule(self, message: Message, when: float, retried: int) -> None:
        heapq.heappush(self._due, (when, next(self._seq), message, retried))
        self._lock.notify_all()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                while not self._stop and (not self._due or self._due[0][0] > time.monotonic()):
                    self._lock.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if self._stop:
                    return
                _, _, message, retried = heapq.heappop(self._due)
            # QStash delivers messages in parallel: one thread per attempt.
            thread = threading.Thread(target=self._attempt, args=(message, retried),
                                      daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _attempt(self, message: Message, retried: int) -> None:
        status = self._post(message, retried)
        if not 200 <= status < 300 and retried < self.retries:
            with self._lock:
                if not self._stop:
                    self._schedule(message, time.monotonic() + self.backoff(retried),
                                   retried + 1)

    def _post(self, message: Message, retried: int) -> int:
        try:
            status = self._http.post(message.destination, content=message.body, headers={
                "Content-Type": message.content_type,
                "Upstash-Signature": self.signature(message),
                "Upstash-Message-Id": message.id,
                "Upstash-Retried": str(retried)}).status_code
        except httpx.HTTPError:
            status = 0
        with self._lock:
            self.attempts.append(Attempt(message.id, retried, status))
        return status

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)
        self._http.close()


@contextmanager
def run_standin(**options: Any) -> Iterator[QStashStandIn]:
    """The stand-in on a free port, delivering until the block ends."""
    standin = QStashStandIn(**options)
    dispatcher = threading.Thread(target=standin._dispatch, name="qstash-standin",
                                  daemon=True)
    with serve_in_thread(standin.app(), lifespan=False) as url:
        standin.url = url
        dispatcher.start()
        try:
            yield standin
        finally:
            standin.stop()
            dispatcher.join(timeout=10)
