"""The tables of telling: webhooks, notification settings, the outbox of ended jobs, and
the deliveries with each of their attempts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update

from scrapetrack.access import Actor
from scrapetrack.store.models import (
    Campaign,
    Delivery,
    DeliveryAttempt,
    JobOutcome,
    NotificationSettings,
    ScrapingJob,
    Webhook,
    utcnow,
)
from scrapetrack.store.workspaces import Transactions, role_in

# What a job's end calls for, decided outside the store: rows to insert into `deliveries`.
Planner = Callable[[ScrapingJob, str, list[Webhook], NotificationSettings | None],
                   list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class WebhookRole:
    webhook: Webhook
    role: str | None  # the actor's role in its workspace


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    deliveries: Sequence[Delivery]
    attempts: dict[int, list[DeliveryAttempt]]
    next_cursor: int | None


class Deliveries:
    def __init__(self, store: Transactions) -> None:
        self.store = store

    # webhooks ----------------------------------------------------------------------------
    def add_webhook(self, **values: Any) -> Webhook:
        with self.store.writing() as s:
            webhook = Webhook(**values)
            s.add(webhook)
            s.flush()
            return webhook

    def webhook(self, actor: Actor, webhook_id: str) -> WebhookRole | None:
        with self.store.reading() as s:
            found = s.execute(select(Webhook, role_in(actor, Webhook.workspace_id)).where(
                Webhook.id == webhook_id)).first()
            return WebhookRole(found[0], found[1]) if found is not None else None

    def webhooks(self, workspace_ids: Sequence[str]) -> Sequence[Webhook]:
        with self.store.reading() as s:
            return s.scalars(select(Webhook).where(Webhook.workspace_id.in_(workspace_ids))
                             .order_by(Webhook.created_at, Webhook.id)).all()

    def secret(self, webhook_id: str) -> str | None:
        with self.store.reading() as s:
            return s.scalar(select(Webhook.secret).where(Webhook.id == webhook_id))

    def delete_webhook(self, webhook_id: str) -> bool:
        with self.store.writing() as s:
            return bool(s.execute(delete(Webhook).where(Webhook.id == webhook_id))
                        .rowcount)  # type: ignore[attr-defined]

    # notification settings ---------------------------------------------------------------
    def settings(self, user_id: str) -> NotificationSettings | None:
        with self.store.reading() as s:
            return s.get(NotificationSettings, user_id)

    def save_settings(self, user_id: str, **values: Any) -> NotificationSettings:
        with self.store.writing() as s:
            found = s.get(NotificationSettings, user_id)
            if found is None:
                found = NotificationSettings(user_id=user_id)
                s.add(found)
            for name, value in values.items():
                setattr(found, name, value)
            found.updated_at = utcnow()
            s.flush()
            return found

    # the outbox --------------------------------------------------------------------------
    def outcomes_before(self, before: datetime, limit: int) -> list[str]:
        """Ended jobs whose outcome nobody has turned into deliveries since `before`."""
        with self.store.reading() as s:
            return list(s.scalars(select(JobOutcome.job_id).where(JobOutcome.at < before)
                                  .order_by(JobOutcome.at).limit(limit)))

    def dispatch(self, job_id: str, planner: Planner) -> list[int]:
        """Turn a job's outcome into deliveries, once: the outbox row goes in the same
        transaction, so two processes dispatching one job write its deliveries once. The
        ids of the deliveries written."""
        with self.store.writing() as s:
            taken = s.execute(delete(JobOutcome).where(JobOutcome.job_id == job_id))
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return []
            job = s.get(ScrapingJob, job_id)
            if job is None:
                return []
            webhooks = list(s.scalars(select(Webhook).where(
                Webhook.workspace_id == job.workspace_id).order_by(Webhook.id)))
            wanted = s.get(NotificationSettings, job.user_id) if job.user_id else None
            campaign = s.scalar(select(Campaign.name).where(Campaign.id == job.campaign_id))
            rows = [Delivery(**row) for row in planner(job, campaign or "", webhooks, wanted)]
            s.add_all(rows)
            s.flush()
            return [row.id for row in rows]

    # deliveries --------------------------------------------------------------------------
    def add_delivery(self, **values: Any) -> Delivery:
        with self.store.writing() as s:
            delivery = Delivery(**values)
            s.add(delivery)
            s.flush()
            return delivery

    def claim(self, delivery_id: int, now: datetime, lease: timedelta,
              early: timedelta) -> Delivery | None:
        """Take a delivery that is due (or whose last sender's lease ran out) for one
        attempt; None if it is not due, already delivered or failed, or someone else's."""
        with self.store.writing() as s:
            taken = s.execute(update(Delivery).where(
                Delivery.id == delivery_id,
                or_((Delivery.status == "pending") & (Delivery.next_attempt_at <= now + early),
                    (Delivery.status == "sending") & (Delivery.lease_until < now)))
                .values(status="sending", lease_until=now + lease))
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return s.get(Delivery, delivery_id)

    def record(self, delivery: Delivery, attempt: DeliveryAttempt, *, status: str,
               next_attempt_at: datetime | None = None) -> None:
        """One attempt's result: delivered, failed for good, or pending its next try."""
        with self.store.writing() as s:
            s.add(attempt)
            values: dict[str, Any] = {
                "status": status, "attempts": attempt.attempt, "lease_until": None,
                "last_attempt_at": attempt.at, "last_status_code": attempt.status_code,
                "last_error": attempt.error}
            if next_attempt_at is not None:
                values["next_attempt_at"] = next_attempt_at
            s.execute(update(Delivery).where(Delivery.id == delivery.id).values(**values))

    def overdue(self, before: datetime, now: datetime, limit: int) -> list[int]:
        """Deliveries whose attempt should have happened before `before` (their queue entry
        was lost), or whose sender died holding them."""
        with self.store.reading() as s:
            return list(s.scalars(select(Delivery.id).where(or_(
                (Delivery.status == "pending") & (Delivery.next_attempt_at < before),
                (Delivery.status == "sending") & (Delivery.lease_until < now)))
                .order_by(Delivery.id).limit(limit)))

    def page(self, webhook_id: str, limit: int, before_id: int | None) -> DeliveryPage:
        """A webhook's deliveries, newest first, with every attempt of each."""
        query = select(Delivery).where(Delivery.webhook_id == webhook_id)
        if before_id is not None:
            query = query.where(Delivery.id < before_id)
        with self.store.reading() as s:
            rows = s.scalars(query.order_by(Delivery.id.desc()).limit(limit + 1)).all()
            shown = rows[:limit]
            attempts: dict[int, list[DeliveryAttempt]] = {row.id: [] for row in shown}
            if shown:
                for attempt in s.scalars(select(DeliveryAttempt).where(
                        DeliveryAttempt.delivery_id.in_(list(attempts)))
                        .order_by(DeliveryAttempt.attempt)):
                    attempts[attempt.delivery_id].append(attempt)
            more = len(rows) > limit
            return DeliveryPage(shown, attempts, shown[-1].id if more and shown else None)

    def get(self, delivery_id: int) -> Delivery | None:
        with self.store.reading() as s:
            return s.get(Delivery, delivery_id)

    def attempts(self, delivery_id: int) -> list[DeliveryAttempt]:
        with self.store.reading() as s:
            return list(s.scalars(select(DeliveryAttempt).where(
                DeliveryAttempt.delivery_id == delivery_id).order_by(DeliveryAttempt.attempt)))
