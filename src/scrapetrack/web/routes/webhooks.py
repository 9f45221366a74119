"""Outgoing webhooks (a workspace admin's) and your own notification settings."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Response

from scrapetrack.schemas import (
    AttemptOut,
    NotificationsIn,
    NotificationsOut,
    WebhookCreatedOut,
    WebhookDeliveryOut,
    WebhookDeliveryPageOut,
    WebhookIn,
    WebhookOut,
    WebhookTestOut,
)
from scrapetrack.serializers import iso
from scrapetrack.store.models import DeliveryAttempt, NotificationSettings, Webhook
from scrapetrack.web.deps import CurrentUser, WebhooksDep
from scrapetrack.web.openapi import ANY, UNSAFE, errors
from scrapetrack.webhooks import MAX_PAGE, NotificationChange

router = APIRouter(prefix="/api", tags=["webhooks"])


def webhook_out(w: Webhook) -> WebhookOut:
    return WebhookOut(id=w.id, workspaceId=w.workspace_id, url=w.url, events=w.events,
                      fewResultsThreshold=w.few_results_threshold, createdAt=iso(w.created_at))


def attempt_out(a: DeliveryAttempt) -> AttemptOut:
    return AttemptOut(attempt=a.attempt, at=iso(a.at), statusCode=a.status_code,
                      error=a.error, durationMs=a.duration_ms)


def notifications_out(n: NotificationSettings) -> NotificationsOut:
    return NotificationsOut(slackWebhookUrl=n.slack_webhook_url, email=n.email,
                            onCompleted=n.on_completed, onFailed=n.on_failed,
                            onFewResults=n.on_few_results,
                            fewResultsThreshold=n.few_results_threshold,
                            updatedAt=iso(n.updated_at))


@router.post("/webhooks", status_code=201, responses=errors(400, 403, 404, *UNSAFE, *ANY))
def create_webhook(body: WebhookIn, user: CurrentUser,
                   webhooks: WebhooksDep) -> WebhookCreatedOut:
    """A workspace admin's: job outcomes are POSTed to `url`, signed to the Standard
    Webhooks spec with the `secret` this answer shows once."""
    made = webhooks.create(user, body.url, body.events, body.workspaceId,
                           body.fewResultsThreshold)
    return WebhookCreatedOut(**webhook_out(made).model_dump(), secret=made.secret)


@router.get("/webhooks", responses=errors(403, 404, *ANY))
def list_webhooks(user: CurrentUser, webhooks: WebhooksDep,
                  workspace: str | None = None) -> list[WebhookOut]:
    """Those of the workspaces you administer (or of `workspace`)."""
    return [webhook_out(w) for w in webhooks.list(user, workspace)]


@router.get("/webhooks/{webhook_id}", responses=errors(403, 404, *ANY))
def get_webhook(webhook_id: str, user: CurrentUser, webhooks: WebhooksDep) -> WebhookOut:
    return webhook_out(webhooks.get(user, webhook_id))


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response,
               responses=errors(403, 404, *UNSAFE, *ANY))
def delete_webhook(webhook_id: str, user: CurrentUser, webhooks: WebhooksDep) -> Response:
    """Nothing more is sent to it, retries included."""
    webhooks.delete(user, webhook_id)
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/test", responses=errors(403, 404, *UNSAFE, *ANY))
async def test_webhook(webhook_id: str, user: CurrentUser,
                       webhooks: WebhooksDep) -> WebhookTestOut:
    """Send a `webhook.test` event now, signed like any other, once: how it went."""
    delivery_id, attempt = await anyio.to_thread.run_sync(webhooks.test, user, webhook_id)
    return WebhookTestOut(deliveryId=delivery_id, delivered=attempt.error is None,
                          attempt=attempt_out(attempt))


@router.get("/webhooks/{webhook_id}/deliveries", responses=errors(400, 403, 404, *ANY))
def list_deliveries(webhook_id: str, user: CurrentUser, webhooks: WebhooksDep,
                    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
                    cursor: str | None = None) -> WebhookDeliveryPageOut:
    """Newest first, each with every attempt: when, the answer's code, how long."""
    page = webhooks.deliveries(user, webhook_id, limit, cursor)
    return WebhookDeliveryPageOut(items=[WebhookDeliveryOut(
        id=d.id, messageId=d.message_id, event=d.event, jobId=d.job_id,
        status=d.status,
        createdAt=iso(d.created_at),
        nextAttemptAt=iso(d.next_attempt_at) if d.status == "pending" else None,
        attempts=[attempt_out(a) for a in page.attempts[d.id]]) for d in page.deliveries],
        nextCursor=None if page.next_cursor is None else str(page.next_cursor))


@router.get("/me/notifications", responses=errors(*ANY))
def get_notifications(user: CurrentUser, webhooks: WebhooksDep) -> NotificationsOut:
    return notifications_out(webhooks.notifications(user))


@router.put("/me/notifications", responses=errors(400, *UNSAFE, *ANY))
def set_notifications(body: NotificationsIn, user: CurrentUser,
                      webhooks: WebhooksDep) -> NotificationsOut:
    """How you hear that your searches ended: a Slack incoming webhook and/or an email
    address, and which outcomes (completed, failed, few results). Fields left out keep
    their value."""
    given = body.model_fields_set
    return notifications_out(webhooks.set_notifications(user, NotificationChange(
        slack_webhook_url=body.slackWebhookUrl, email=body.email,
        set_slack="slackWebhookUrl" in given, set_email="email" in given,
        on_completed=body.onCompleted, on_failed=body.onFailed,
        on_few_results=body.onFewResults, few_results_threshold=body.fewResultsThreshold)))
