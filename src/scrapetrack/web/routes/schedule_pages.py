"""The schedules page (pause, resume, delete) and "Save as schedule" on a search's page.
Forms post here with their CSRF token; nothing needs JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from scrapetrack.access import WORK, Actor, allows
from scrapetrack.exceptions import CsrfFailed, InputError, ScrapetrackError
from scrapetrack.providers.platforms import PLATFORMS
from scrapetrack.schedules import MISSED, Schedules
from scrapetrack.service import Service
from scrapetrack.web import csrf
from scrapetrack.web.deps import SchedulesDep, ServiceDep
from scrapetrack.web.errors import status_for
from scrapetrack.web.routes.pages import CsrfField, MaybeUser, refused, render, to_login

router = APIRouter(include_in_schema=False)
ACTIONS = ("pause", "resume", "delete")


def schedules_page(request: Request, user: Actor, schedules: Schedules, service: Service,
                   status_code: int = 200, error: str | None = None,
                   saved: str | None = None) -> Response:
    found = schedules.of(user)
    campaigns = {c.id: c.name for c in service.list_campaigns(user)}
    roles = {w.workspace.id: w.role for w in service.workspaces.of(user)}
    rows = [{"schedule": s, "campaign": campaigns.get(s.campaign_id, ""),
             "search": f"like @{s.target_username}" if s.target_username
             else ", ".join(s.keywords or []),
             "can_work": allows(roles.get(s.workspace_id, ""), WORK)} for s in found]
    return render(request, "schedules.html", status_code=status_code, user=user, rows=rows,
                  platforms={name: p.label for name, p in PLATFORMS.items()}, error=error,
                  saved=saved)


@router.get("/schedules")
def schedules_list(request: Request, user: MaybeUser, schedules: SchedulesDep,
                   service: ServiceDep, saved: str | None = None) -> Response:
    if user is None:
        return to_login()
    return schedules_page(request, user, schedules, service, saved=saved)


@router.post("/schedules")
def save_as_schedule(request: Request, user: MaybeUser, schedules: SchedulesDep,
                     service: ServiceDep, job_id: Annotated[str, Form()] = "",
                     cron: Annotated[str, Form()] = "",
                     timezone: Annotated[str, Form()] = "UTC",
                     missed: Annotated[str, Form()] = MISSED[0],
                     csrf_token: CsrfField = "") -> Response:
    """A schedule that repeats a search's input, from the search's page."""
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        made = schedules.from_job(user, job_id, cron, timezone, missed)
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return render(request, "not_found.html", status_code=status_for(exc), user=user,
                      title="Not saved", message=exc.message)
    return RedirectResponse(f"/schedules?saved={made.id}", status_code=303)


@router.post("/schedules/{schedule_id}")
def change_schedule(request: Request, schedule_id: str, user: MaybeUser,
                    schedules: SchedulesDep, service: ServiceDep,
                    action: Annotated[str, Form()] = "",
                    csrf_token: CsrfField = "") -> Response:
    """Pause, resume or delete."""
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        if action == "delete":
            schedules.delete(user, schedule_id)
        elif action in ACTIONS:
            schedules.update(user, schedule_id, {"paused": action == "pause"})
        else:
            raise InputError(f"action must be one of {', '.join(ACTIONS)}")
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return schedules_page(request, user, schedules, service, status_for(exc), exc.message)
    return RedirectResponse("/schedules", status_code=303)
