"""QStash as the queue (QUEUE_URL=qstash): the original design's serverless delivery, done right.

Creating a job publishes `{"jobId": ...}` to `${PUBLIC_URL}/api/qstash/process-scraping`;
QStash POSTs it back, signed. A delivery advances its job for at most the time budget, parks
it and publishes the next message with a delay, until the Apify run ends. QStash delivers at
least once, so a delivery is only a suggestion: the job row decides (only one worker can claim
a job, and a finished one is not claimable), and a copy that finds nothing to do answers 2xx.
If a next message is lost (publishing failed, the process died), the reaper publishes again.
A signed delivery sent again (a replay, or QStash's own duplicate) is acknowledged without
running: what was handled is noted in the store while its signature is valid.

No qstash type or error leaves this module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import jwt
from qstash import QStash, Receiver
from qstash.errors import QStashError

from scrapetrack.config import Settings
from scrapetrack.exceptions import ConfigError, InputError, QueueUnavailable, Unauthorized
from scrapetrack.queue import Parked, Queue
from scrapetrack.store.repository import Store

log = logging.getLogger(__name__)

PATH = "/api/qstash/process-scraping"


class RunJob(Protocol):
    def __call__(self, job_id: str, deadline: float | None = ...,
                 idle_seconds: float = ...) -> Parked | None: ...


@dataclass(frozen=True, slots=True)
class Message:
    """What a verified delivery asks for: advance a job, or run the reaper."""

    job_id: str | None = None
    delivery_id: int | None = None
    # When the job last had news (Unix time), carried from a parked delivery to the next so
    # the stall limit spans deliveries and the waits between them.
    quiet_since: float | None = None
    reap: bool = False
    # What names this delivery (its signature's hash, its message id), and until when its
    # signature is valid: a copy within that time is a replay.
    seen_as: tuple[str, ...] = ()
    valid_until: datetime | None = None

    @classmethod
    def parse(cls, body: bytes) -> Message:
        try:
            data = json.loads(body)
        except ValueError:
            raise InputError("The message body is not valid JSON") from None
        if isinstance(data, dict) and data.get("reap") is True:
            return cls(reap=True)
        if isinstance(data, dict) and "deliveryId" in data:
            delivery = data["deliveryId"]
            if isinstance(delivery, bool) or not isinstance(delivery, int):
                raise InputError('The message must be {"deliveryId": number}')
            return cls(delivery_id=delivery)
        job_id = data.get("jobId") if isinstance(data, dict) else None
        quiet = data.get("quietSince") if isinstance(data, dict) else None
        if not isinstance(job_id, str) or not job_id or isinstance(quiet, bool) \
                or not isinstance(quiet, int | float | None):
            raise InputError('The message must be {"jobId": "...", "quietSince"?: number}, '
                             '{"deliveryId": number} or {"reap": true}')
        return cls(job_id=job_id, quiet_since=None if quiet is None else float(quiet))


def delivery_url(settings: Settings) -> str:
    if not settings.public_url:
        raise ConfigError("QUEUE_URL=qstash needs PUBLIC_URL, the base QStash calls back")
    return settings.public_url.rstrip("/") + PATH


class QStashQueue(Queue):
    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        missing = [name for name, value in (
            ("QSTASH_TOKEN", settings.qstash_token),
            ("QSTASH_CURRENT_SIGNING_KEY", settings.qstash_current_signing_key),
            ("QSTASH_NEXT_SIGNING_KEY", settings.qstash_next_signing_key)) if value is None]
        if missing:
            raise ConfigError(f"QUEUE_URL=qstash needs {', '.join(missing)}")
        if settings.qstash_republish_delay_seconds * 2 >= settings.heartbeat_timeout_seconds:
            # A parked job counts as orphaned once its heartbeat is stale: its next message
            # must be due well before that, or the reaper would publish copies of it.
            raise ConfigError("QSTASH_REPUBLISH_DELAY_SECONDS must be under half of "
                              "HEARTBEAT_TIMEOUT_SECONDS")
        assert settings.qstash_token and settings.qstash_current_signing_key \
            and settings.qstash_next_signing_key
        self.url = delivery_url(settings)
        self.budget = settings.qstash_budget_seconds
        self.delay = settings.qstash_republish_delay_seconds
        self.tolerance = settings.qstash_clock_tolerance_seconds
        # Copies published for one job within one reaper period are one message to QStash:
        # several web processes reaping at once send one message, not one each. The reaper
        # only revives jobs older than three periods, so it never collides with a first
        # message.
        self.dedup_window = max(1.0, settings.heartbeat_timeout_seconds / 3)
        # The SDK's default retries sleep up to ~20 s in a web request; one quick retry, then
        # QueueUnavailable, and the reaper publishes again later.
        self.client = QStash(settings.qstash_token.get_secret_value(),
                             base_url=settings.qstash_url or None,
                             retry={"retries": 1, "backoff": lambda _attempt: 200})
        self.receiver = Receiver(settings.qstash_current_signing_key.get_secret_value(),
                                 settings.qstash_next_signing_key.get_secret_value())
        self.clock = clock
        self.wall = wall
        self._run_job: RunJob | None = None
        self._deliver: Callable[[int], object] | None = None

    # publishing ---------------------------------------------------------------------------
    def bind(self, run_job: Callable[..., object]) -> None:
        self._run_job = run_job  # type: ignore[assignment]

    def bind_delivery(self, deliver: Callable[[int], object]) -> None:
        self._deliver = deliver

    def enqueue_delivery(self, delivery_id: int, delay_seconds: float = 0) -> None:
        bucket = int(self.wall() // self.dedup_window)
        delay = math.ceil(delay_seconds)
        self._publish({"deliveryId": delivery_id}, dedup=f"delivery-{delivery_id}-t{bucket}"
                      f"-d{delay}", delay=delay)

    def enqueue(self, job_id: str, delay_seconds: float = 0) -> None:
        bucket = int(self.wall() // self.dedup_window)
        delay = math.ceil(delay_seconds)
        # A delayed message (a job waiting for Apify capacity) is a later delivery of its own.
        self._publish({"jobId": job_id}, dedup=f"{job_id}-t{bucket}" + (f"-d{delay}" if delay
                                                                         else ""), delay=delay)

    def publish_next(self, parked: Parked) -> None:
        """The message that resumes a parked job, after the re-publish delay."""
        quiet_since = round(self.wall() - parked.idle_seconds, 3)
        self._publish({"jobId": parked.job_id, "quietSince": quiet_since},
                      dedup=f"{parked.job_id}-v{parked.version}", delay=self.delay)

    def _publish(self, body: dict[str, Any], *, dedup: str, delay: int = 0) -> None:
        try:
            self.client.message.publish_json(url=self.url, body=body, delay=delay or None,
                                             deduplication_id=dedup)
        except (QStashError, httpx.HTTPError, ValueError, RuntimeError) as exc:
            # QStash's answer (4xx/5xx/429), the network after the SDK's retry, a reply that
            # is not JSON, or a client already closed by a shutdown.
            raise QueueUnavailable(f"QStash is unavailable: {type(exc).__name__}: {exc}") \
                from exc

    def queued_job_ids(self) -> list[str]:
        """QStash does not list waiting messages; duplicates are harmless and deduplicated."""
        return []

    # receiving ----------------------------------------------------------------------------
    def verify(self, signature: str | None, body: bytes,
               message_id: str | None = None) -> Message:
        """The message, if QStash signed exactly this body for exactly our URL, with the
        current or the next signing key, within its validity; Unauthorized otherwise."""
        if not signature:
            raise Unauthorized("The Upstash-Signature header is missing")
        try:
            text = body.decode("utf-8")
            self.receiver.verify(signature=signature, body=text, url=self.url,
                                 clock_tolerance=self.tolerance)
            # Verified just above: read for its expiry alone.
            expires = jwt.decode(signature, options={"verify_signature": False})["exp"]
        except QStashError as exc:
            raise Unauthorized(f"Invalid QStash signature: {exc}") from None
        except (UnicodeDecodeError, KeyError, TypeError, AttributeError, ValueError):
            # A token without a `body` claim, or a body no signer could have hashed.
            raise Unauthorized("Invalid QStash signature: malformed claims") from None
        seen_as = ["signature:" + hashlib.sha256(signature.encode()).hexdigest()]
        if message_id:
            seen_as.append("message:" + message_id[:80])
        valid_until = datetime.fromtimestamp(float(expires) + self.tolerance, UTC)
        return dataclasses.replace(Message.parse(body), seen_as=tuple(seen_as),
                                   valid_until=valid_until)

    def deliver(self, message: Message, reap: Callable[[], object],
                handled: Store) -> dict[str, Any]:
        """Act on a verified message, once: a copy of one handled (the same signature, or
        the same message id) while its signature is valid is acknowledged and not run
        again; a delivery that fails is forgotten, so QStash's retry runs. What was done,
        for the answer."""
        assert message.valid_until is not None
        if not handled.claim_delivery(message.seen_as, message.valid_until):
            log.info("a QStash delivery came again: acknowledged, not run")
            return {"replayed": True}
        try:
            return self._act(message, reap)
        except BaseException:
            handled.release_delivery(message.seen_as)
            raise

    def _act(self, message: Message, reap: Callable[[], object]) -> dict[str, Any]:
        if message.reap:
            reap()
            return {"reaped": True}
        if message.delivery_id is not None:
            if self._deliver is None:
                raise ConfigError("No delivery sender is bound to the QStash queue")
            self._deliver(message.delivery_id)
            return {"deliveryId": message.delivery_id}
        assert message.job_id is not None
        if self._run_job is None:
            raise ConfigError("No job runner is bound to the QStash queue")
        idle = 0.0 if message.quiet_since is None else max(0.0, self.wall() - message.quiet_since)
        parked = self._run_job(message.job_id, deadline=self.clock() + self.budget,
                               idle_seconds=idle)
        if parked is None:
            return {"jobId": message.job_id, "parked": False}
        # Unpublished, the job would wait for the reaper; answering 503 instead makes QStash
        # deliver this message again soon, and that copy claims the parked job.
        self.publish_next(parked)
        return {"jobId": message.job_id, "parked": True}

    # consuming ------------------------------------------------------------------------------
    def start_consumer(self, workers: int = 0) -> None:
        """Deliveries arrive over HTTP: nothing to start here."""

    def stop_consumer(self, graceful: bool = True) -> None:
        """Nothing runs here between deliveries."""

    def close(self) -> None:
        # The SDK offers no close(); its httpx client would hold its sockets until collected.
        client = getattr(self.client.http, "_client", None)
        if isinstance(client, httpx.Client):
            client.close()
