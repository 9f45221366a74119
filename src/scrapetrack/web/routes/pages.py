"""The HTML pages: sign-in, campaigns, and a campaign with its live searches."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from scrapetrack.exceptions import CsrfFailed, ScrapetrackError, Unauthorized
from scrapetrack.providers.platforms import PLATFORMS
from scrapetrack.serializers import campaign_json, job_status
from scrapetrack.store.campaign_list import WORKFLOW
from scrapetrack.store.models import User
from scrapetrack.web import csrf
from scrapetrack.web.deps import (
    SESSION_ID,
    SESSION_TOKEN,
    SESSION_USER,
    AccountsDep,
    ServiceDep,
    SettingsDep,
    optional_user,
)
from scrapetrack.web.errors import status_for

router = APIRouter(include_in_schema=False)
MaybeUser = Annotated[User | None, Depends(optional_user)]
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
    request.session.clear()  # a fresh session, and with it a fresh CSRF token
    request.session[SESSION_USER] = signed.user.id
    request.session[SESSION_ID] = signed.session_id
    request.session[SESSION_TOKEN] = signed.token_id
    return RedirectResponse("/", status_code=303)


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
def campaigns_page(request: Request, user: MaybeUser, service: ServiceDep) -> Response:
    if user is None:
        return to_login()
    campaigns = service.list_campaigns(user.id)
    return render(request, "campaigns.html", user=user, campaigns=campaigns, error=None)


@router.post("/campaigns")
def create_campaign(request: Request, user: MaybeUser, service: ServiceDep,
                    name: Annotated[str, Form()] = "",
                    description: Annotated[str, Form()] = "",
                    csrf_token: CsrfField = "") -> Response:
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
    except CsrfFailed as exc:
        return refused(request, exc)
    try:
        campaign = service.create_campaign(user.id, name, description or None)
    except ScrapetrackError as exc:
        campaigns = service.list_campaigns(user.id)
        return render(request, "campaigns.html", status_code=status_for(exc), user=user,
                      campaigns=campaigns, error=exc.message)
    return RedirectResponse(f"/campaigns/{campaign.id}", status_code=303)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: str, user: MaybeUser, service: ServiceDep,
                  settings: SettingsDep) -> Response:
    if user is None:
        return to_login()
    try:
        campaign = service.get_campaign(user.id, campaign_id)
    except ScrapetrackError as exc:
        return render(request, "not_found.html", status_code=status_for(exc), user=user,
                      message=exc.message)
    jobs = service.campaign_jobs(user.id, campaign.id)
    state = {"campaign": campaign_json(campaign), "jobs": [job_status(j) for j in jobs],
             "platforms": {name: p.label for name, p in PLATFORMS.items()},
             "maxTargetResults": settings.max_target_results,
             "creatorStatuses": list(WORKFLOW)}
    return render(request, "campaign.html", user=user, campaign=campaign, state=state)
