"""What an ended search means to the people and tools that wait for it: the webhook events
it raises, and the Slack and mail messages it sends.

    job.completed     it completed
    job.few_results   it completed with fewer creators than the webhook's threshold
    job.failed        it ended as error or timeout
    job.cancelled     someone cancelled it
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scrapetrack.serializers import iso, job_status
from scrapetrack.store.models import NotificationSettings, ScrapingJob, Webhook

COMPLETED = "job.completed"
FEW_RESULTS = "job.few_results"
FAILED = "job.failed"
CANCELLED = "job.cancelled"
EVENTS = (COMPLETED, FAILED, CANCELLED, FEW_RESULTS)
TEST = "webhook.test"


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery to write: where to, about what, and what to send."""

    channel: str  # webhook, slack or email
    target: str
    event: str
    payload: dict[str, Any]
    webhook_id: str | None = None
    user_id: str | None = None


def webhook_events(job: ScrapingJob, webhook: Webhook) -> list[str]:
    """The events of the webhook's that the job's end raises."""
    raised = {"completed": [COMPLETED], "error": [FAILED], "timeout": [FAILED],
              "cancelled": [CANCELLED]}.get(job.status, [])
    threshold = webhook.few_results_threshold
    if job.status == "completed" and threshold is not None and job.creators_count < threshold:
        raised.append(FEW_RESULTS)
    return [event for event in raised if event in webhook.events]


def webhook_payload(event: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The Standard Webhooks payload shape."""
    return {"type": event, "timestamp": iso(at), "data": data}


def personal_outcome(job: ScrapingJob, wanted: NotificationSettings) -> str | None:
    """completed, few_results or failed, if the user asked to hear of it (a search they
    cancelled themselves is news to nobody)."""
    if job.status == "completed":
        if job.creators_count < wanted.few_results_threshold:
            return "few_results" if wanted.on_few_results else None
        return "completed" if wanted.on_completed else None
    if job.status in ("error", "timeout"):
        return "failed" if wanted.on_failed else None
    return None


def plan(job: ScrapingJob, campaign: str, webhooks: list[Webhook],
         wanted: NotificationSettings | None, at: datetime, search_url: str) -> list[Message]:
    """Every delivery the job's end calls for."""
    messages: list[Message] = []
    data = job_status(job)
    for webhook in webhooks:
        for event in webhook_events(job, webhook):
            messages.append(Message("webhook", webhook.url, event,
                                    webhook_payload(event, at, data), webhook_id=webhook.id))
    outcome = personal_outcome(job, wanted) if wanted is not None else None
    if wanted is not None and outcome is not None:
        subject, text = describe(job, campaign, outcome, search_url)
        event = f"notify.{outcome}"
        if wanted.slack_webhook_url:
            messages.append(Message("slack", wanted.slack_webhook_url, event,
                                    {"text": f"*{subject}*\n{text}"}, user_id=job.user_id))
        if wanted.email:
            messages.append(Message("email", wanted.email, event,
                                    {"subject": subject, "text": text}, user_id=job.user_id))
    return messages


def search_name(job: ScrapingJob) -> str:
    if job.kind == "similar":
        return f"{job.platform} creators like @{job.target_username}"
    return f"{job.platform} search for {', '.join(repr(k) for k in job.keywords or [])}"


def describe(job: ScrapingJob, campaign: str, outcome: str,
             search_url: str) -> tuple[str, str]:
    """A message's subject and text: the search (and its campaign), its outcome, the
    counts, the cost, and the link to its page."""
    name = search_name(job)
    headline = {"completed": f"Your {name} completed",
                "few_results": f"Your {name} found only {job.creators_count} creators",
                "failed": f"Your {name} failed ({job.status})"}[outcome]
    cost = f"${job.cost_usd:.2f}" if job.cost_usd is not None else "not reported"
    lines = [f"Search: {name}, in campaign {campaign}",
             f"Outcome: {job.status}" + (" with few results" if outcome == "few_results"
                                         else ""),
             f"Creators found: {job.creators_count} (target {job.target_results})",
             f"Items read: {job.processed_results}",
             f"Cost: {cost}"]
    if outcome == "failed" and job.last_error:
        lines.append(f"Error: {job.last_error}")
    lines.append(f"See it: {search_url}")
    return headline, "\n".join(lines)
