"""The pages of teams: the workspace switcher's targets, a workspace's members, invitations
and audit trail, and the page an invitation link opens. Forms post here with their CSRF
token; nothing needs JavaScript."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from scrapetrack.access import MANAGE, Actor, allows
from scrapetrack.budget import usd
from scrapetrack.exceptions import CsrfFailed, InputError, ScrapetrackError
from scrapetrack.teams import Teams
from scrapetrack.web import csrf
from scrapetrack.web.deps import SettingsDep, TeamsDep
from scrapetrack.web.errors import status_for
from scrapetrack.web.routes.pages import (
    CsrfField,
    MaybeUser,
    open_session,
    refused,
    render,
    to_login,
)

router = APIRouter(include_in_schema=False)
AUDIT_PAGE = 50


@router.post("/workspaces")
def create_workspace(request: Request, user: MaybeUser, teams: TeamsDep,
                     name: Annotated[str, Form(alias="workspace_name")] = "",
                     csrf_token: CsrfField = "") -> Response:
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        made = teams.create(user, name)
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return render(request, "not_found.html", status_code=status_for(exc), user=user,
                      title="Not created", message=exc.message)
    return RedirectResponse(f"/?workspace={made.workspace.id}", status_code=303)


def workspace_page(request: Request, teams: Teams, user: Actor, workspace_id: str,
                   status_code: int = 200, link: str | None = None,
                   error: str | None = None, cursor: str | None = None) -> Response:
    try:
        found = teams.get(user, workspace_id)
        manage = allows(found.role, MANAGE)
        members = teams.members(user, workspace_id)
        invitations = teams.invitations(user, workspace_id) if manage else []
        audit, older = teams.audit(user, workspace_id, AUDIT_PAGE, cursor) if manage \
            else ([], None)
        budget = teams.budget(user, workspace_id)
    except ScrapetrackError as exc:
        return render(request, "not_found.html", status_code=status_for(exc), user=user,
                      message=exc.message)
    return render(request, "workspace.html", status_code=status_code, user=user,
                  found=found, manage=manage, members=members, invitations=invitations,
                  audit=audit, older=older, link=link, error=error, budget=budget, usd=usd)


@router.get("/workspaces/{workspace_id}")
def workspace(request: Request, workspace_id: str, user: MaybeUser, teams: TeamsDep,
              cursor: str | None = None) -> Response:
    if user is None:
        return to_login()
    return workspace_page(request, teams, user, workspace_id, cursor=cursor)


@router.post("/workspaces/{workspace_id}/invitations")
def invite(request: Request, workspace_id: str, user: MaybeUser, teams: TeamsDep,
           settings: SettingsDep, email: Annotated[str, Form()] = "",
           role: Annotated[str, Form()] = "member", csrf_token: CsrfField = "") -> Response:
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        made = teams.invite(user, workspace_id, email, role)
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return workspace_page(request, teams, user, workspace_id, status_for(exc),
                              error=exc.message)
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return workspace_page(request, teams, user, workspace_id,
                          link=f"{base}/invitations/{made.code}")


@router.post("/workspaces/{workspace_id}/members/{user_id}")
def change_member(request: Request, workspace_id: str, user_id: str, user: MaybeUser,
                  teams: TeamsDep, role: Annotated[str, Form()] = "",
                  csrf_token: CsrfField = "") -> Response:
    """A new role, or (role "remove") out of the workspace."""
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        if role == "remove":
            teams.remove_member(user, workspace_id, user_id)
        else:
            teams.change_role(user, workspace_id, user_id, role)
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return workspace_page(request, teams, user, workspace_id, status_for(exc),
                              error=exc.message)
    if user_id == user.id and role == "remove":
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/workspaces/{workspace_id}", status_code=303)


@router.post("/workspaces/{workspace_id}/budget")
def set_budget(request: Request, workspace_id: str, user: MaybeUser, teams: TeamsDep,
               monthly_usd: Annotated[str, Form()] = "",
               action: Annotated[str, Form()] = "set", csrf_token: CsrfField = "") -> Response:
    """An admin's: a new monthly budget, or (action "clear") none."""
    if user is None:
        return to_login()
    try:
        csrf.check(request, csrf_token)
        teams.set_budget(user, workspace_id, None if action == "clear" else _dollars(monthly_usd))
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return workspace_page(request, teams, user, workspace_id, status_for(exc),
                              error=exc.message)
    return RedirectResponse(f"/workspaces/{workspace_id}", status_code=303)


def _dollars(text: str) -> float:
    try:
        return float(text.strip().removeprefix("$").replace(",", ""))
    except ValueError:
        raise InputError("Give the monthly budget as a number of dollars, like 50") from None


@router.get("/invitations/{code}")
def invitation_page(request: Request, code: str, user: MaybeUser, teams: TeamsDep) -> Response:
    """What the link invites to, and a button that accepts by POST: a GET never joins."""
    try:
        invitation, workspace = teams.invitation(code)
    except ScrapetrackError as exc:
        return render(request, "not_found.html", status_code=status_for(exc), user=user,
                      title="Invitation", message=exc.message)
    return render(request, "invitation.html", user=user, code=code, invitation=invitation,
                  workspace=workspace, error=None)


@router.post("/invitations/{code}")
def accept(request: Request, code: str, user: MaybeUser, teams: TeamsDep,
           csrf_token: CsrfField = "") -> Response:
    """Join as the signed-in user; or, nobody signed in, create the invited person's account
    and sign them in."""
    try:
        csrf.check(request, csrf_token)
        accepted = teams.accept(code, user)
        if user is None:
            open_session(request, teams.accounts.sign_in(
                teams.accounts.login_code(accepted.user.email), codes_only=True))
    except CsrfFailed as exc:
        return refused(request, exc)
    except ScrapetrackError as exc:
        return render(request, "not_found.html", status_code=status_for(exc), user=user,
                      title="Invitation", message=exc.message)
    return RedirectResponse(f"/?workspace={accepted.workspace.id}", status_code=303)
