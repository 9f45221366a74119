"""The HTML pages: sign-in, campaigns, a campaign with its live searches, and the search
history with a page per search."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from scrapetrack.access import MANAGE, WORK, Actor, allows
from scrapetrack.accounts import SignIn
from scrapetrack.budget import usd
from scrapetrack.exceptions import CsrfFailed, InputError, ScrapetrackError, Unauthorized
from scrapetrack.jobs import Status
from scrapetrack.providers.platforms import PLATFORMS
from scrapetrack.serializers import campaign_json, job_status
from scrapetrack.service import Service
from scrapetrack.store.campaign_list import WORKFLOW, CreatorFilter
from scrapetrack.store.models import ScrapingJob, utcnow
from scrapetrack.store.search_history import JobFilter
from scrapetrack.teams import Teams
from scrapetrack.web import csrf
from scrapetrack.web.deps import (
    SESSION_ID,
    SESSION_TOKEN,
    SESSION_USER,
    AccountsDep,
    ServiceDep,
    SettingsDep,
    TeamsDep,
    optional_user,
)
from scrapetrack.web.errors import status_for
from scrapetrack.web.routes.creators import creator_page

router = APIRouter(include_in_schema=False)
FIRST_CREATORS = 50  # as many as app.js asks for at first
MaybeUser = Annotated[Actor | None, Depends(optional_user)]
CsrfField = Annotated[str, Form(alias=csrf.FIELD)]


def render(request: Request, name: str, status_code: int = 200, **context: object) -> Response:
    templates = request.app.state.templates
    context.setdefault("csrf_token", csrf.csrf_token(request))
    response: Response = templates.TemplateResponse(request, name, context,
                                                    status_code=status_code)
    return response


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/login")
def login_page(request: Request, accounts: AccountsDep, code: str | None = None) -> Response:
    """The sign-in form; with a link's one-time code, a page that says whom it signs in and
    a button that does it by POST. A GET never signs in: a link on another site cannot."""
    if not code:
        return render(request, "login.html", error=None)
    try:
        user = accounts.code_owner(code)
    except Unauthorized as exc:
        return render(request, "login.html", status_code=401, error=exc.message)
    return render(request, "login_code.html", code=code, email=user.email)


@router.post("/login")
def login_submit(request: Request, accounts: AccountsDep, token: Annotated[str, Form()] = "",
                 code: Annotated[str, Form()] = "", csrf_token: CsrfField = "") -> Response:
    """Sign in with a pasted token or code, or a link's code (`code`: codes only)."""
    try:  # a forged sign-in would put the victim in the attacker's account
        csrf.check(request, csrf_token)
    except CsrfFailed as exc:
        return render(request, "login.html", status_code=403, error=exc.message)
    try:
        signed = (accounts.sign_in(code.strip(), codes_only=True) if code
                  else accounts.sign_in(token.strip()))
    except Unauthorized as exc:
        return render(request, "login.html", status_code=401, error=exc.message)
    open_session(request, signed)
    return RedirectResponse("/", status_code=303)


def open_session(request: Request, signed: SignIn) -> None:
    """The browser's cookie names the new session (and, being fresh, gets a fresh CSRF
    token)."""
    request.session.clear()
    request.session[SESSION_USER] = signed.user.id
    request.session[SESSION_ID] = signed.session_id
    request.session[SESSION_TOKEN] = signed.token_id


@router.post("/logout")
def logout(request: Request, accounts: AccountsDep, csrf_token: CsrfField = "") -> Response:
    try:
        csrf.check(request, csrf_token)
    except CsrfFailed as exc:
        return refused(request, exc)
    session_id = request.session.get(SESSION_ID)
    if isinstance(session_id, str):  # a copy of the cookie no longer signs anyone in
        accounts.sign_out(session_id)
    request.session.clear()
    return to_login()


def refused(request: Request, exc: CsrfFailed) -> Response:
    return render(request, "not_found.html", status_code=403, user=None,
                  title="Not allowed", message=exc.message)


@router.get("/", response_class=HTMLResponse)
def campaigns_page(request: Request, user: MaybeUser, service: ServiceDep, teams: TeamsDep,
                   workspace: str | None = None) -> Response:
    if user is None:
        return to_login()
    return campaigns_of(request, user, service, teams, workspace)


def campaigns_of(request: Request, user: Actor, service: Service, teams: Teams,
                 workspace_id: str | None, status_code: int = 200,
                 error: str | None = None) -> Response:
    """The campaigns of one of the user's workspaces (their personal one by default), with
    the switcher to the others."""
    workspaces = teams.of(user)
    chosen = next((w for w in workspaces if w.workspace.id == workspace_id), None) or next(
        (w for w in workspaces if w.workspace.id in (user.workspace_id, user.id)), None) or (
        workspaces[0] if workspaces else None)
    campaigns = service.list_campaigns(user, chosen.workspace.id) if chosen else []
    budget = teams.budget(user, chosen.workspace.id) if chosen else None
    return render(request, "campaigns.html", status_code=status_code, user=user,
                  campaigns=campaigns, workspaces=workspaces, chosen=chosen,
                  can_work=chosen is not None and allows(chosen.role, WORK), error=error,
                  budget=budget, usd=usd)


@router.post("/campaigns")
def create_campaign(request: Request, user: MaybeUser, service: ServiceDep, teams: TeamsDep,
                    name: Annotated[str, Form()] = "",
                    description: Annotated[str, Form()] = "",
                    workspace_id: Annotated[str, Form()] = "",
                    csrf_token: CsrfField = "") -> Response:
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
    except CsrfFailed as exc:
        return refused(request, exc)
    try:
        campaign = service.create_campaign(user, name, description or None,
                                           workspace_id or None)
    except ScrapetrackError as exc:
        return campaigns_of(request, user, service, teams, workspace_id or None,
                            status_for(exc), exc.message)
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: str, user: MaybeUser, service: ServiceDep,
                  settings: SettingsDep, teams: TeamsDep) -> Response:
    if user is None:
        return to_login()
    try:
        campaign = service.get_campaign(user, campaign_id)
    except ScrapetrackError as exc:
        return render(request, "not_found.html", status_code=status_for(exc), user=user,
                      message=exc.message)
    jobs = service.campaign_jobs(user, campaign.id)
    state = {"campaign": campaign_json(campaign), "jobs": [job_status(j) for j in jobs],
             "platforms": {name: p.label for name, p in PLATFORMS.items()},
             "maxTargetResults": settings.max_target_results,
             "creatorStatuses": list(WORKFLOW),
             # The list's first page as the form first asks for it, drawn with no request.
             "creators": creator_page(service.campaign_creators(
                 user, campaign.id, CreatorFilter(), limit=FIRST_CREATORS)).model_dump(
                     mode="json")}
    found = teams.get(user, campaign.workspace_id)
    return render(request, "campaign.html", user=user, campaign=campaign, state=state,
                  role=found.role, can_work=allows(found.role, WORK),
                  can_manage=allows(found.role, MANAGE), workspace_name=found.workspace.name)


# --- search history ------------------------------------------------------------------------
HISTORY_PAGE = 50
SEARCH_PAGE_CREATORS = 200  # the rest is in the CSV export


def _blank_is_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _day_or_time(value: str | None, field: str) -> datetime | None:
    """A date (midnight UTC) or a time from a form field; None when left empty."""
    if not (value := _blank_is_none(value)):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{field} must be a date like 2025-03-01") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _took(job: ScrapingJob) -> str:
    if job.started_at is None:
        return ""
    seconds = round(((job.finished_at or utcnow()) - job.started_at).total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _query(job: ScrapingJob) -> str:
    return f"like @{job.target_username}" if job.kind == "similar" \
        else ", ".join(job.keywords or [])


@router.get("/searches", response_class=HTMLResponse)
def searches_page(request: Request, user: MaybeUser, service: ServiceDep,
                  status: str | None = None, platform: str | None = None,
                  kind: str | None = None,
                  campaign_id: Annotated[str | None, Query(alias="campaignId")] = None,
                  created_from: Annotated[str | None, Query(alias="createdFrom")] = None,
                  created_to: Annotated[str | None, Query(alias="createdTo")] = None,
                  q: str | None = None, cursor: str | None = None) -> Response:
    """Every search of every campaign, newest first, filtered; the same as GET /api/jobs."""
    if user is None:
        return to_login()
    form = {"status": status, "platform": platform, "kind": kind, "campaignId": campaign_id,
            "createdFrom": created_from, "createdTo": created_to, "q": q}
    campaigns = {c.id: c.name for c in service.list_campaigns(user)}
    jobs: Sequence[ScrapingJob] = []
    next_cursor, error, code = None, None, 200
    try:
        jobs, next_cursor = service.list_jobs(user, JobFilter(
            status=_blank_is_none(status), platform=_blank_is_none(platform),
            kind=_blank_is_none(kind), campaign_id=_blank_is_none(campaign_id),
            created_from=_day_or_time(created_from, "From"),
            created_to=_day_or_time(created_to, "To"), q=_blank_is_none(q)),
            limit=HISTORY_PAGE, cursor=_blank_is_none(cursor))
    except ScrapetrackError as exc:
        error, code = exc.message, status_for(exc)
    rows = [{"job": job, "query": _query(job), "took": _took(job),
             "campaign": campaigns.get(job.campaign_id, "")} for job in jobs]
    more = None if next_cursor is None else urlencode(
        {**{k: v for k, v in form.items() if v}, "cursor": next_cursor})
    return render(request, "searches.html", status_code=code, user=user, rows=rows,
                  form=form, more=more, error=error, campaigns=campaigns,
                  platforms={name: p.label for name, p in PLATFORMS.items()},
                  statuses=list(Status))


@router.get("/searches/{job_id}", response_class=HTMLResponse)
def search_page(request: Request, job_id: str, user: MaybeUser,
                service: ServiceDep, teams: TeamsDep) -> Response:
    """One search: its input, timings, Apify run, outcome and creators."""
    if user is None:
        return to_login()
    try:
        job = service.get_job(user, job_id)
        campaign = service.get_campaign(user, job.campaign_id)
        creators = service.results(user, job.id, limit=SEARCH_PAGE_CREATORS)
        total = service.count_results(user, job.id)
        role = teams.get(user, job.workspace_id).role
    except ScrapetrackError as exc:
        return render(request, "not_found.html", status_code=status_for(exc), user=user,
                      message=exc.message)
    return render(request, "search.html", user=user, job=job, campaign=campaign,
                  query=_query(job), took=_took(job),
                  creators=creators, total=total,
                  platform=PLATFORMS[job.platform].label, can_work=allows(role, WORK))
