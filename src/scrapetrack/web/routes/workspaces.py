"""Workspaces: their members and roles, invitations, the audit trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from scrapetrack.access import role
from scrapetrack.budget import MonthSpend
from scrapetrack.schemas import (
    AcceptedOut,
    AuditOut,
    AuditPageOut,
    BudgetIn,
    BudgetOut,
    InvitationIn,
    InvitationOut,
    MemberOut,
    MemberRoleIn,
    TransferIn,
    WorkspaceIn,
    WorkspaceOut,
)
from scrapetrack.serializers import iso
from scrapetrack.store.models import Invitation
from scrapetrack.store.workspaces import MemberRow, WorkspaceRole
from scrapetrack.teams import MAX_AUDIT_PAGE
from scrapetrack.web.deps import CurrentUser, SettingsDep, TeamsDep
from scrapetrack.web.openapi import ANY, UNSAFE, errors

router = APIRouter(prefix="/api", tags=["workspaces"])


def workspace_out(found: WorkspaceRole) -> WorkspaceOut:
    w = found.workspace
    return WorkspaceOut(id=w.id, name=w.name, personal=w.personal_of is not None,
                        role=role(found.role), members=found.members,
                        createdAt=iso(w.created_at), monthlyBudgetUsd=w.monthly_budget_usd)


def member_out(m: MemberRow) -> MemberOut:
    return MemberOut(userId=m.user_id, email=m.email, role=role(m.role),
                     joinedAt=iso(m.joined_at))


def invitation_out(i: Invitation, link: str | None = None) -> InvitationOut:
    return InvitationOut(id=i.id, email=i.email, role=role(i.role),
                         createdAt=iso(i.created_at), expiresAt=iso(i.expires_at), link=link)


@router.get("/workspaces", responses=errors(*ANY))
def list_workspaces(user: CurrentUser, teams: TeamsDep) -> list[WorkspaceOut]:
    """Yours, with your role in each: your personal one first."""
    return [workspace_out(w) for w in teams.of(user)]


@router.post("/workspaces", status_code=201, responses=errors(400, *UNSAFE, *ANY))
def create_workspace(body: WorkspaceIn, user: CurrentUser, teams: TeamsDep) -> WorkspaceOut:
    """A new workspace, with you as its owner."""
    return workspace_out(teams.create(user, body.name))


@router.get("/workspaces/{workspace_id}", responses=errors(404, *ANY))
def get_workspace(workspace_id: str, user: CurrentUser, teams: TeamsDep) -> WorkspaceOut:
    return workspace_out(teams.get(user, workspace_id))


@router.delete("/workspaces/{workspace_id}", status_code=204, response_class=Response,
               responses=errors(403, 404, 409, *UNSAFE, *ANY))
def delete_workspace(workspace_id: str, user: CurrentUser, teams: TeamsDep) -> Response:
    """The owner's: with every campaign, search and creator in it."""
    teams.delete(user, workspace_id)
    return Response(status_code=204)


@router.post("/workspaces/{workspace_id}/transfer", status_code=204, response_class=Response,
             responses=errors(400, 403, 404, *UNSAFE, *ANY))
def transfer_workspace(workspace_id: str, body: TransferIn, user: CurrentUser,
                       teams: TeamsDep) -> Response:
    """The owner's: another member becomes the owner, and you an admin."""
    teams.transfer(user, workspace_id, body.userId)
    return Response(status_code=204)


@router.get("/workspaces/{workspace_id}/members", responses=errors(404, *ANY))
def list_members(workspace_id: str, user: CurrentUser, teams: TeamsDep) -> list[MemberOut]:
    return [member_out(m) for m in teams.members(user, workspace_id)]


@router.put("/workspaces/{workspace_id}/members/{user_id}",
            responses=errors(400, 403, 404, *UNSAFE, *ANY))
def change_member(workspace_id: str, user_id: str, body: MemberRoleIn, user: CurrentUser,
                  teams: TeamsDep) -> MemberOut:
    """An admin's: a member's new role, in force from their next request."""
    return member_out(teams.change_role(user, workspace_id, user_id, body.role))


@router.delete("/workspaces/{workspace_id}/members/{user_id}", status_code=204,
               response_class=Response, responses=errors(403, 404, 409, *UNSAFE, *ANY))
def remove_member(workspace_id: str, user_id: str, user: CurrentUser,
                  teams: TeamsDep) -> Response:
    """An admin's, or your own to leave: access ends on the member's next request, and their
    open streams of the workspace end within STREAM_CREDENTIAL_CHECK_SECONDS."""
    teams.remove_member(user, workspace_id, user_id)
    return Response(status_code=204)


@router.post("/workspaces/{workspace_id}/invitations", status_code=201,
             responses=errors(400, 403, 404, *UNSAFE, *ANY))
def invite(workspace_id: str, body: InvitationIn, request: Request, user: CurrentUser,
           teams: TeamsDep, settings: SettingsDep) -> InvitationOut:
    """An admin's: a one-time link, valid for 7 days, that adds its opener with the role."""
    made = teams.invite(user, workspace_id, body.email, body.role)
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return invitation_out(made.invitation, f"{base}/invitations/{made.code}")


@router.get("/workspaces/{workspace_id}/invitations", responses=errors(403, 404, *ANY))
def list_invitations(workspace_id: str, user: CurrentUser,
                     teams: TeamsDep) -> list[InvitationOut]:
    """An admin's: those not accepted, revoked or expired."""
    return [invitation_out(i) for i in teams.invitations(user, workspace_id)]


@router.delete("/workspaces/{workspace_id}/invitations/{invitation_id}", status_code=204,
               response_class=Response, responses=errors(403, 404, *UNSAFE, *ANY))
def revoke_invitation(workspace_id: str, invitation_id: str, user: CurrentUser,
                      teams: TeamsDep) -> Response:
    teams.revoke_invitation(user, workspace_id, invitation_id)
    return Response(status_code=204)


@router.post("/invitations/{code}/accept", responses=errors(403, 404, 409, *UNSAFE, *ANY))
def accept_invitation(code: str, user: CurrentUser, teams: TeamsDep) -> AcceptedOut:
    """Join the workspace, as the token's user."""
    accepted = teams.accept(code, user)
    return AcceptedOut(workspace=workspace_out(teams.get(user, accepted.workspace.id)))


@router.get("/workspaces/{workspace_id}/audit", responses=errors(400, 403, 404, *ANY))
def audit_trail(workspace_id: str, user: CurrentUser, teams: TeamsDep,
                limit: Annotated[int, Query(ge=1, le=MAX_AUDIT_PAGE)] = 50,
                cursor: str | None = None) -> AuditPageOut:
    """An admin's: who did what, newest first. Entries are never changed."""
    rows, next_cursor = teams.audit(user, workspace_id, limit, cursor)
    return AuditPageOut(items=[AuditOut(id=e.id, at=iso(e.at), actor=e.actor_email,
                                        action=e.action, target=e.target, detail=e.detail)
                               for e in rows], nextCursor=next_cursor)


def budget_out(spend: MonthSpend) -> BudgetOut:
    return BudgetOut(workspaceId=spend.workspace_id, month=spend.month.label,
                     monthlyUsd=spend.cap, spentUsd=spend.spent, committedUsd=spend.committed,
                     remainingUsd=spend.remaining, resetsAt=iso(spend.month.end))


@router.get("/workspaces/{workspace_id}/budget", responses=errors(404, *ANY))
def get_budget(workspace_id: str, user: CurrentUser, teams: TeamsDep) -> BudgetOut:
    """The monthly budget and what this month (UTC) has spent and committed of it."""
    return budget_out(teams.budget(user, workspace_id))


@router.put("/workspaces/{workspace_id}/budget",
            responses=errors(400, 403, 404, *UNSAFE, *ANY))
def set_budget(workspace_id: str, body: BudgetIn, user: CurrentUser,
               teams: TeamsDep) -> BudgetOut:
    """An admin's: the most the workspace's searches may charge a month, or null for no
    budget. A new search the rest cannot cover is refused (402); each search's Apify runs
    are capped at what was left when it started."""
    return budget_out(teams.set_budget(user, workspace_id, body.monthlyUsd))
