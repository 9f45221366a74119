"""Outgoing webhooks and a user's notification settings: what the API does with them.

A workspace's webhooks are its admins' to see and change: their URLs and secrets reach
outside it. A user's notification settings are their own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from scrapetrack.access import MANAGE, Actor, allows, require
from scrapetrack.deliveries import Teller, new_message_id, new_secret
from scrapetrack.exceptions import InputError, WebhookNotFound
from scrapetrack.outbound import check_url
from scrapetrack.outcomes import EVENTS, FEW_RESULTS, TEST, webhook_payload
from scrapetrack.service import Service, looks_like_id
from scrapetrack.store.deliveries import DeliveryPage
from scrapetrack.store.models import (
    DEFAULT_FEW_RESULTS,
    Delivery,
    DeliveryAttempt,
    NotificationSettings,
    Webhook,
    utcnow,
)
from scrapetrack.store.workspaces import WorkspaceRole

MAX_WEBHOOKS = 20  # per workspace
MAX_THRESHOLD = 100_000
MAX_PAGE = 100
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


@dataclass(frozen=True, slots=True)
class NotificationChange:
    """What PUT /api/me/notifications asks for; a field left None keeps its value."""

    slack_webhook_url: str | None = None
    email: str | None = None
    set_slack: bool = False  # the request named slackWebhookUrl (null clears it)
    set_email: bool = False
    on_completed: bool | None = None
    on_failed: bool | None = None
    on_few_results: bool | None = None
    few_results_threshold: int | None = None


@dataclass(frozen=True, slots=True)
class Overview:
    managed: list[WorkspaceRole]
    webhooks: Sequence[Webhook]
    recent: dict[str, Sequence[Delivery]]


class Webhooks:
    def __init__(self, service: Service, teller: Teller) -> None:
        self.service = service
        self.teller = teller
        self.tables = teller.tables
        self.allow_private = service.settings.webhook_allow_private

    # webhooks ----------------------------------------------------------------------------
    def create(self, actor: Actor, url: str, events: Sequence[str],
               workspace_id: str | None = None,
               few_results_threshold: int | None = None) -> Webhook:
        """A new webhook of one of the actor's workspaces (their own by default); its secret
        is read once, from the answer."""
        workspace_id = workspace_id or actor.workspace_id or actor.id
        require(self.service.workspace_role(actor, workspace_id), MANAGE)
        url = check_url(url, "url", allow_private=self.allow_private)
        if isinstance(events, str) or not events or any(e not in EVENTS for e in events):
            raise InputError(f"events must be a list of some of {', '.join(EVENTS)}")
        if FEW_RESULTS in events:
            threshold = DEFAULT_FEW_RESULTS if few_results_threshold is None \
                else few_results_threshold
            if isinstance(threshold, bool) or not isinstance(threshold, int) \
                    or not 1 <= threshold <= MAX_THRESHOLD:
                raise InputError("fewResultsThreshold must be a whole number from 1 to "
                                 f"{MAX_THRESHOLD}")
        elif few_results_threshold is not None:
            raise InputError(f"fewResultsThreshold goes with the {FEW_RESULTS} event")
        else:
            threshold = None
        if len(self.tables.webhooks([workspace_id])) >= MAX_WEBHOOKS:
            raise InputError(f"A workspace can have at most {MAX_WEBHOOKS} webhooks")
        webhook = self.tables.add_webhook(
            workspace_id=workspace_id, user_id=actor.id, url=url,
            events=list(dict.fromkeys(events)), few_results_threshold=threshold,
            secret=new_secret())
        self.service.store.audit(self.service.entry(workspace_id, actor, "webhook.created",
                                                    webhook.id, url=url))
        return webhook

    def list(self, actor: Actor, workspace_id: str | None = None) -> Sequence[Webhook]:
        """The webhooks of the workspaces the actor manages (or of one)."""
        if workspace_id is not None:
            require(self.service.workspace_role(actor, workspace_id), MANAGE)
            return self.tables.webhooks([workspace_id])
        managed = [w.workspace.id for w in self.service.workspaces.of(actor)
                   if allows(w.role, MANAGE)]
        return self.tables.webhooks(managed)

    def overview(self, actor: Actor, recent: int) -> Overview:
        """What the settings page shows: the workspaces the actor manages, their webhooks,
        and each one's `recent` deliveries (access checked once, for all of them)."""
        managed = [w for w in self.service.workspaces.of(actor) if allows(w.role, MANAGE)]
        hooks = self.tables.webhooks([w.workspace.id for w in managed])
        return Overview(managed, hooks, {h.id: self.tables.page(h.id, recent, None).deliveries
                                         for h in hooks})

    def get(self, actor: Actor, webhook_id: str) -> Webhook:
        found = self.tables.webhook(actor, webhook_id) if looks_like_id(webhook_id) else None
        if found is None or found.role is None or \
                actor.workspace_id not in (None, found.webhook.workspace_id):
            raise WebhookNotFound()
        require(found.role, MANAGE)
        return found.webhook

    def delete(self, actor: Actor, webhook_id: str) -> None:
        webhook = self.get(actor, webhook_id)
        if not self.tables.delete_webhook(webhook.id):
            raise WebhookNotFound()
        self.service.store.audit(self.service.entry(webhook.workspace_id, actor,
                                                    "webhook.deleted", webhook.id))

    def test(self, actor: Actor, webhook_id: str) -> tuple[int, DeliveryAttempt]:
        """Send a `webhook.test` event now, once, signed like any other; the delivery's id
        and how its one attempt went."""
        webhook = self.get(actor, webhook_id)
        now = utcnow()
        payload = webhook_payload(TEST, now, {"webhookId": webhook.id,
                                              "workspaceId": webhook.workspace_id})
        delivery = self.tables.add_delivery(
            message_id=new_message_id(), webhook_id=webhook.id, user_id=None,
            channel="webhook", target=webhook.url, event=TEST, payload=payload,
            status="sending", next_attempt_at=now, created_at=now)
        return delivery.id, self.teller.attempt(delivery, retry=False)

    def deliveries(self, actor: Actor, webhook_id: str, limit: int = 50,
                   cursor: str | None = None) -> DeliveryPage:
        webhook = self.get(actor, webhook_id)
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be from 1 to {MAX_PAGE}")
        before = None
        if cursor is not None:
            if not cursor.isdigit():
                raise InputError("cursor must be the nextCursor of an earlier page")
            before = int(cursor)
        return self.tables.page(webhook.id, limit, before)

    # notification settings ---------------------------------------------------------------
    def notifications(self, actor: Actor) -> NotificationSettings:
        return self.tables.settings(actor.id) or NotificationSettings(
            user_id=actor.id, slack_webhook_url=None, email=None, on_completed=True,
            on_failed=True, on_few_results=True, few_results_threshold=DEFAULT_FEW_RESULTS,
            updated_at=None)

    def set_notifications(self, actor: Actor, change: NotificationChange) -> NotificationSettings:
        values: dict[str, object] = {}
        if change.set_slack:
            values["slack_webhook_url"] = None if change.slack_webhook_url is None else \
                check_url(change.slack_webhook_url, "slackWebhookUrl",
                          allow_private=self.allow_private)
        if change.set_email:
            email = change.email.strip() if change.email is not None else None
            if email is not None and (len(email) > 320 or not EMAIL.match(email)):
                raise InputError("email must be an address like name@example.com")
            values["email"] = email or None
        for name in ("on_completed", "on_failed", "on_few_results"):
            if getattr(change, name) is not None:
                values[name] = bool(getattr(change, name))
        threshold = change.few_results_threshold
        if threshold is not None:
            if isinstance(threshold, bool) or not 1 <= threshold <= MAX_THRESHOLD:
                raise InputError("fewResultsThreshold must be a whole number from 1 to "
                                 f"{MAX_THRESHOLD}")
            values["few_results_threshold"] = threshold
        if values.get("email") and self.teller.mailer is None:
            raise InputError("This deployment sends no mail: its operator has not set "
                             "SMTP_URL")
        return self.tables.save_settings(actor.id, **values)
