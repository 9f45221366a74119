"""Telling the world that a search ended: webhooks, Slack and mail, through the queue.

A job's end writes an outbox row in the transaction that ends it (Store.finish). `dispatch`
turns that row into one delivery per target, once, and queues them; each queued task makes
one attempt. A failed attempt (no answer, or not 2xx) is queued again after a delay that
doubles from WEBHOOK_RETRY_BASE_SECONDS, up to an hour a wait, until WEBHOOK_RETRY_HOURS after
the delivery was first due; every attempt carries the same message id. `sweep`, run
periodically, dispatches outcomes whose process died before it could, and queues again the
deliveries whose queue entry was lost: so a crash anywhere delays a message and loses none.
A delivery is claimed with a lease before its attempt, so a copy of its queue entry never
sends it twice at once.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook as Signer

from scrapetrack.config import Settings
from scrapetrack.exceptions import DeliveryFailed, QueueUnavailable
from scrapetrack.mailer import Mailer
from scrapetrack.outbound import Sender
from scrapetrack.outcomes import Message, plan
from scrapetrack.queue import Queue
from scrapetrack.store.deliveries import Deliveries
from scrapetrack.store.models import (
    Delivery,
    DeliveryAttempt,
    NotificationSettings,
    ScrapingJob,
    Webhook,
    utcnow,
)
from scrapetrack.store.repository import Store

log = logging.getLogger(__name__)

MAX_WAIT = timedelta(hours=1)
# A sender holds a delivery this long at most; a longer attempt is taken to have died.
LEASE = timedelta(minutes=2)
# A queued attempt may run this much before its time (the queue's rounding).
EARLY = timedelta(seconds=2)
# Left this long to the process that ended a job, before the sweep dispatches for it.
DISPATCH_GRACE = timedelta(seconds=10)
# A due delivery not attempted within this long has lost its queue entry.
LOST_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 200


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Teller:
    """Dispatches outcomes into deliveries, and makes their attempts."""

    def __init__(self, settings: Settings, store: Store, queue: Queue) -> None:
        self.settings = settings
        self.tables = Deliveries(store)
        self.queue = queue
        self.sender = Sender(allow_private=settings.webhook_allow_private,
                             timeout_seconds=settings.webhook_timeout_seconds)
        self.mailer = Mailer(settings.smtp_url.get_secret_value(), settings.smtp_from,
                             settings.webhook_timeout_seconds) if settings.smtp_url else None

    def close(self) -> None:
        self.sender.close()

    # dispatching -------------------------------------------------------------------------
    def job_ended(self, job_id: str) -> None:
        """Right after a job ended: its deliveries, queued. A failure here is the sweep's to
        repair, never the job's."""
        try:
            self.dispatch(job_id)
        except Exception:
            log.exception("job %s: its outcome is not dispatched yet; the sweep will", job_id)

    def dispatch(self, job_id: str) -> list[int]:
        at = utcnow()

        def planner(job: ScrapingJob, campaign: str, webhooks: list[Webhook],
                    wanted: NotificationSettings | None) -> list[dict[str, Any]]:
            url = f"{self.settings.base_url()}/searches/{job.id}"
            return [self._row(message, job.id, at) for message in
                    plan(job, campaign, webhooks, wanted, at, url)]

        ids = self.tables.dispatch(job_id, planner)
        for delivery_id in ids:
            self._enqueue(delivery_id)
        if ids:
            log.info("job %s: %d deliveries of its outcome queued", job_id, len(ids))
        return ids

    @staticmethod
    def _row(message: Message, job_id: str | None, at: datetime) -> dict[str, Any]:
        return {"message_id": new_message_id(), "webhook_id": message.webhook_id,
                "user_id": message.user_id, "channel": message.channel,
                "target": message.target, "event": message.event, "job_id": job_id,
                "payload": message.payload, "next_attempt_at": at, "created_at": at}

    def _enqueue(self, delivery_id: int, delay: float = 0) -> None:
        try:
            self.queue.enqueue_delivery(delivery_id, delay)
        except QueueUnavailable as exc:
            log.warning("delivery %d not queued yet (the sweep will): %s", delivery_id,
                        exc.message)

    def sweep(self, settle: timedelta = DISPATCH_GRACE) -> int:
        """Dispatch outcomes left alone for `settle`, queue lost deliveries again; how many
        of both."""
        now = utcnow()
        forgotten = self.tables.outcomes_before(now - settle, SWEEP_BATCH)
        for job_id in forgotten:
            self.dispatch(job_id)
        lost = self.tables.overdue(now - LOST_AFTER, now, SWEEP_BATCH)
        for delivery_id in lost:
            self._enqueue(delivery_id)
        if forgotten or lost:
            log.warning("sweep: dispatched %d outcomes and queued %d deliveries again",
                        len(forgotten), len(lost))
        else:
            log.debug("sweep: nothing forgotten")
        return len(forgotten) + len(lost)

    # attempting --------------------------------------------------------------------------
    def deliver(self, delivery_id: int) -> None:
        """One attempt (the queue's task): delivered, queued again later, or given up."""
        now = utcnow()
        delivery = self.tables.claim(delivery_id, now, LEASE, EARLY)
        if delivery is None:
            return  # done, not due yet, or another process has it
        self.attempt(delivery, retry=True)

    def attempt(self, delivery: Delivery, *, retry: bool) -> DeliveryAttempt:
        """Send a claimed delivery once and record how it went."""
        number = delivery.attempts + 1
        started = time.monotonic()
        at = utcnow()
        code: int | None = None
        error: str | None = None
        try:
            code = self._send(delivery, at)
        except DeliveryFailed as exc:
            code, error = exc.status_code, exc.message
        attempt = DeliveryAttempt(delivery_id=delivery.id, attempt=number, at=at,
                                  status_code=code, error=error,
                                  duration_ms=round((time.monotonic() - started) * 1000))
        if error is None:
            self.tables.record(delivery, attempt, status="delivered")
            log.info("delivery %d (%s %s) delivered on attempt %d", delivery.id,
                     delivery.channel, delivery.event, number)
            return attempt
        wait = min(MAX_WAIT, timedelta(
            seconds=self.settings.webhook_retry_base_seconds * 2 ** (number - 1)))
        until = delivery.created_at + timedelta(hours=self.settings.webhook_retry_hours)
        if not retry or at + wait > until:
            self.tables.record(delivery, attempt, status="failed")
            log.warning("delivery %d (%s %s) failed for good after %d attempts: %s",
                        delivery.id, delivery.channel, delivery.event, number, error)
            return attempt
        self.tables.record(delivery, attempt, status="pending", next_attempt_at=at + wait)
        log.info("delivery %d (%s %s) attempt %d failed, next in %.0f s: %s", delivery.id,
                 delivery.channel, delivery.event, number, wait.total_seconds(), error)
        self._enqueue(delivery.id, wait.total_seconds())
        return attempt

    def _send(self, delivery: Delivery, at: datetime) -> int | None:
        if delivery.channel == "email":
            if self.mailer is None:
                raise DeliveryFailed("no mail server: set SMTP_URL")
            self.mailer.send(delivery.target, delivery.payload["subject"],
                             delivery.payload["text"], delivery.message_id)
            return None
        body = body_of(delivery.payload)
        headers: dict[str, str] = {}
        if delivery.channel == "webhook":
            secret = self._secret(delivery)
            # Signed anew at each attempt (its timestamp is the attempt's), same id always.
            headers = {"webhook-id": delivery.message_id,
                       "webhook-timestamp": str(int(at.timestamp())),
                       "webhook-signature": Signer(secret).sign(
                           delivery.message_id, at, body.decode())}
        return self.sender.post(delivery.target, body, headers)

    def _secret(self, delivery: Delivery) -> str:
        secret = self.tables.secret(delivery.webhook_id) if delivery.webhook_id else None
        if secret is None:
            raise DeliveryFailed("the webhook was deleted")
        return secret
