"""The page where people say how they hear that searches ended: their own notifications,
and the webhooks of the workspaces they administer. Forms post here with their CSRF token;
nothing needs JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from scrapetrack.access import Actor
from scrapetrack.exceptions import CsrfFailed, ScrapetrackError
from scrapetrack.outcomes import EVENTS
from scrapetrack.web import csrf
from scrapetrack.web.deps import WebhooksDep
from scrapetrack.web.routes.pages import CsrfField, MaybeUser, refused, render, to_login
from scrapetrack.webhooks import NotificationChange, Webhooks

router = APIRouter(include_in_schema=False)
RECENT = 5  # deliveries shown per webhook


def settings_page(request: Request, user: Actor, webhooks: Webhooks,
                  status_code: int = 200, error: str | None = None,
                  secret: str | None = None) -> Response:
    shown = webhooks.overview(user, RECENT)
    names = {w.workspace.id: w.workspace.name for w in shown.managed}
    return render(request, "settings.html", status_code=status_code, user=user,
                  notifications=webhooks.notifications(user), webhooks=shown.webhooks,
                  recent=shown.recent, managed=shown.managed, names=names, events=EVENTS,
                  error=error, secret=secret, mail=webhooks.teller.mailer is not None)


@router.get("/settings")
def settings(request: Request, user: MaybeUser, webhooks: WebhooksDep) -> Response:
    if user is None:
        return to_login()
    return settings_page(request, user, webhooks)


@router.post("/settings/notifications")
def save_notifications(request: Request, user: MaybeUser, webhooks: WebhooksDep,
                       slack_webhook_url: Annotated[str, Form()] = "",
                       email: Annotated[str, Form()] = "",
                       on_completed: Annotated[bool, Form()] = False,
                       on_failed: Annotated[bool, Form()] = False,
                       on_few_results: Annotated[bool, Form()] = False,
                       few_results_threshold: Annotated[int, Form()] = 10,
                       csrf_token: CsrfField = "") -> Response:
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        webhooks.set_notifications(user, NotificationChange(
            slack_webhook_url=slack_webhook_url.strip() or None, email=email.strip() or None,
            set_slack=True, set_email=True, on_completed=on_completed, on_failed=on_failed,
            on_few_results=on_few_results, few_results_threshold=few_results_threshold))
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return settings_page(request, user, webhooks, 400, error=exc.message)
    return RedirectResponse("/settings?saved=1", status_code=303)


@router.post("/settings/webhooks")
def create_webhook(request: Request, user: MaybeUser, webhooks: WebhooksDep,
                   url: Annotated[str, Form()] = "",
                   workspace_id: Annotated[str, Form()] = "",
                   events: Annotated[list[str] | None, Form()] = None,
                   few_results_threshold: Annotated[int | None, Form()] = None,
                   csrf_token: CsrfField = "") -> Response:
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        chosen = events or []
        made = webhooks.create(user, url, chosen, workspace_id or None,
                               few_results_threshold if "job.few_results" in chosen else None)
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return settings_page(request, user, webhooks, 400, error=exc.message)
    # The secret is shown this once, on the page that answers the form.
    return settings_page(request, user, webhooks, 201, secret=made.secret)


@router.post("/settings/webhooks/{webhook_id}")
def change_webhook(request: Request, webhook_id: str, user: MaybeUser, webhooks: WebhooksDep,
                   action: Annotated[str, Form()] = "",
                   csrf_token: CsrfField = "") -> Response:
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        if action == "delete":
            webhooks.delete(user, webhook_id)
        else:
            webhooks.test(user, webhook_id)
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return settings_page(request, user, webhooks, 400, error=exc.message)
    return RedirectResponse("/settings", status_code=303)
