"""What a team does with its workspace: create one, invite people with a role, change and
remove members, hand ownership over, read the audit trail. Routes and CLI call this.

Access to a workspace is asked of the database on every request (no cache), so a removed
member or a changed role takes effect on their next request; their open event streams check
it again every STREAM_CREDENTIAL_CHECK_SECONDS.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from scrapetrack.access import MANAGE, OWN, Actor, require, role
from scrapetrack.accounts import Accounts
from scrapetrack.budget import MonthSpend, check_cap
from scrapetrack.exceptions import (
    Conflict,
    Forbidden,
    InputError,
    InvitationNotFound,
    NotFound,
    WorkspaceNotFound,
)
from scrapetrack.jobs import Status
from scrapetrack.service import MAX_NAME_LENGTH, Service, check_text, looks_like_id
from scrapetrack.store.models import AuditEvent, Invitation, User, Workspace, utcnow
from scrapetrack.store.spend import Spending
from scrapetrack.store.workspaces import MemberRow, WorkspaceRole

INVITATION_LIFETIME = timedelta(days=7)
MAX_AUDIT_PAGE = 200


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewInvitation:
    invitation: Invitation
    code: str  # shown once, in the link


@dataclass(frozen=True, slots=True)
class Accepted:
    workspace: Workspace
    user: User
    role: str


class Teams:
    def __init__(self, service: Service, accounts: Accounts) -> None:
        self.service = service
        self.accounts = accounts
        self.workspaces = service.workspaces
        self.store = service.store
        self.spending = Spending(service.store)

    # workspaces -----------------------------------------------------------------------------
    def of(self, actor: Actor) -> list[WorkspaceRole]:
        return self.workspaces.of(actor)

    def get(self, actor: Actor, workspace_id: str) -> WorkspaceRole:
        """One of the actor's workspaces, with their role; WorkspaceNotFound for any other."""
        found = self.workspaces.get(actor, workspace_id) if looks_like_id(workspace_id) \
            else None
        if found is None:
            raise WorkspaceNotFound()
        return found

    def create(self, actor: Actor, name: str) -> WorkspaceRole:
        if actor.workspace_id is not None:
            raise Forbidden("This token acts in one workspace only: it cannot create others")
        workspace = self.workspaces.create(actor.id, check_text(name, "A workspace name",
                                                                MAX_NAME_LENGTH))
        self.store.audit(self.service.entry(workspace.id, actor, "workspace.created",
                                            workspace.id, name=workspace.name))
        return WorkspaceRole(workspace, "owner", 1)

    def delete(self, actor: Actor | None, workspace_id: str) -> None:
        """With every campaign, search and creator in it (running searches cancelled)."""
        require(self._role(actor, workspace_id), OWN)
        workspace = self.workspaces.by_id(workspace_id)
        if workspace is not None and workspace.personal_of is not None:
            raise Conflict("A personal workspace goes only with its user")
        for status in (Status.PENDING, Status.PROCESSING):  # their Apify runs aborted
            while jobs := self.store.workspace_jobs(workspace_id, status=status):
                for job in jobs:
                    self.service.cancel_quietly(job)
        self.workspaces.delete(workspace_id)

    def transfer(self, actor: Actor, workspace_id: str, to_user_id: str) -> None:
        """Make another member the owner; the old owner stays as an admin."""
        require(self._role(actor, workspace_id), OWN)
        if to_user_id == actor.id or not looks_like_id(to_user_id) or \
                self.workspaces.role(workspace_id, to_user_id) is None:
            raise InputError("Ownership goes to another member of the workspace")
        self.workspaces.transfer(workspace_id, actor.id, to_user_id)
        self.store.audit(self.service.entry(workspace_id, actor, "member.role_changed",
                                            self._email(to_user_id), role="owner"))

    # members --------------------------------------------------------------------------------
    def members(self, actor: Actor | None, workspace_id: str) -> list[MemberRow]:
        self._role(actor, workspace_id)
        return self.workspaces.members(workspace_id)

    def set_member(self, actor: Actor | None, workspace_id: str, email: str,
                   wanted: str) -> MemberRow:
        """Add an existing user with a role, or change a member's role (admins and owners;
        only an owner makes or unmakes owners, through `transfer`)."""
        held = self._role(actor, workspace_id)
        require(held, MANAGE)
        new = role(wanted)
        user = self.user(email)
        old = self.workspaces.role(workspace_id, user.id)
        if new == "owner" or old == "owner":
            raise Forbidden("Ownership changes hands through a transfer, by the owner")
        if self.workspaces.add_member(workspace_id, user.id, new):
            self.store.audit(self.service.entry(
                workspace_id, actor, "member.added" if old is None else "member.role_changed",
                user.email, role=new))
        return next(m for m in self.workspaces.members(workspace_id) if m.user_id == user.id)

    def change_role(self, actor: Actor | None, workspace_id: str, user_id: str,
                    wanted: str) -> MemberRow:
        """A member's new role (by their user id)."""
        self._role(actor, workspace_id)
        if not looks_like_id(user_id) or self.workspaces.role(workspace_id, user_id) is None:
            raise NotFound("No such member")
        return self.set_member(actor, workspace_id, self._email(user_id), wanted)

    def remove_member(self, actor: Actor | None, workspace_id: str, user_id: str) -> None:
        """Admins remove others (not the owner); anyone may leave, but an owner first hands
        ownership over."""
        held = self._role(actor, workspace_id)
        if actor is None or user_id != actor.id:
            require(held, MANAGE)
        target = self.workspaces.role(workspace_id, user_id) if looks_like_id(user_id) else None
        if target is None:
            raise NotFound("No such member")
        if target == "owner":
            raise Forbidden("The owner hands ownership over before leaving")
        workspace = self.workspaces.by_id(workspace_id)
        if workspace is not None and workspace.personal_of == user_id:
            raise Conflict("A personal workspace keeps its user")
        email = self._email(user_id)
        self.workspaces.remove_member(workspace_id, user_id)
        self.store.audit(self.service.entry(workspace_id, actor, "member.removed", email))

    # invitations ----------------------------------------------------------------------------
    def invite(self, actor: Actor | None, workspace_id: str, email: str,
               wanted: str) -> NewInvitation:
        require(self._role(actor, workspace_id), MANAGE)
        new = role(wanted)
        if new == "owner":
            raise InputError("An invitation gives admin, member or viewer")
        email = check_text(email, "email", 320).lower()
        if "@" not in email or " " in email:
            raise InputError("Give a valid email address")
        code = secrets.token_urlsafe(24)
        invitation = self.workspaces.invite(workspace_id, email, new, _hash(code),
                                            actor.id if actor else None,
                                            utcnow() + INVITATION_LIFETIME)
        self.store.audit(self.service.entry(workspace_id, actor, "invitation.sent", email,
                                            role=new))
        return NewInvitation(invitation, code)

    def invitations(self, actor: Actor | None, workspace_id: str) -> Sequence[Invitation]:
        require(self._role(actor, workspace_id), MANAGE)
        return self.workspaces.pending(workspace_id, utcnow())

    def revoke_invitation(self, actor: Actor | None, workspace_id: str, invitation_id: str) -> None:
        require(self._role(actor, workspace_id), MANAGE)
        if not (looks_like_id(invitation_id) and self.workspaces.revoke_invitation(
                workspace_id, invitation_id, utcnow())):
            raise InvitationNotFound()
        self.store.audit(self.service.entry(workspace_id, actor, "invitation.revoked",
                                            invitation_id))

    def invitation(self, code: str) -> tuple[Invitation, Workspace]:
        """What a link invites to, before it is accepted (the page asks first)."""
        found = self.workspaces.invitation(_hash(code), utcnow()) if code else None
        if found is None:
            raise InvitationNotFound()
        return found

    def accept(self, code: str, actor: Actor | None) -> Accepted:
        """Join with the link: as the caller, or (nobody signed in) as a new user with the
        invited address, made here."""
        invitation, workspace = self.invitation(code)
        if actor is not None:
            if actor.workspace_id is not None:
                raise Forbidden("This token acts in one workspace only: it cannot join others")
            user = self.user(actor.email)
        else:
            existing = self.store.user_by_email(invitation.email)
            if existing is not None:
                raise Conflict(f"{invitation.email} has an account: sign in, then open the "
                               "link again")
            user = self.accounts.create_user(invitation.email).user
        if not self.workspaces.accept(invitation.id, user.id, utcnow()):
            raise InvitationNotFound()
        joined = Actor(user.id, user.email)
        self.store.audit(self.service.entry(workspace.id, joined, "invitation.accepted",
                                            user.email, role=invitation.role))
        held = self.workspaces.role(workspace.id, user.id) or invitation.role
        return Accepted(workspace, user, held)

    # the audit trail ------------------------------------------------------------------------
    def audit(self, actor: Actor | None, workspace_id: str, limit: int = 50,
              cursor: str | None = None) -> tuple[Sequence[AuditEvent], str | None]:
        require(self._role(actor, workspace_id), MANAGE)
        if not 1 <= limit <= MAX_AUDIT_PAGE:
            raise InputError(f"limit must be from 1 to {MAX_AUDIT_PAGE}")
        return self.workspaces.audit_page(workspace_id, limit, cursor)

    # the monthly budget (budget.py) ------------------------------------------------------------
    def budget(self, actor: Actor | None, workspace_id: str) -> MonthSpend:
        """This month's spend and budget; every member may see it."""
        self._role(actor, workspace_id)
        return self.spending.month(workspace_id)

    def set_budget(self, actor: Actor | None, workspace_id: str,
                   monthly_usd: object) -> MonthSpend:
        """An admin's: a new monthly budget in USD, or None for none. Lowering it below what
        is committed stops new searches, not running ones (they keep their own budgets)."""
        require(self._role(actor, workspace_id), MANAGE)
        cap = check_cap(monthly_usd)
        return self.spending.set_cap(workspace_id, cap, self.service.entry(
            workspace_id, actor, "budget.changed", workspace_id, monthlyUsd=cap))

    # ---------------------------------------------------------------------------------------
    def _role(self, actor: Actor | None, workspace_id: str) -> str:
        """The actor's role in the workspace; None is the operator at the shell, who may
        do anything an owner may."""
        if actor is not None:
            return self.service.workspace_role(actor, workspace_id)
        if not looks_like_id(workspace_id) or self.workspaces.by_id(workspace_id) is None:
            raise WorkspaceNotFound()
        return "owner"

    def user(self, email: str) -> User:
        user = self.store.user_by_email(email.strip().lower())
        if user is None:
            raise NotFound(f"No user with email {email.strip()}: invite them instead")
        return user

    def _email(self, user_id: str) -> str:
        user = self.store.user_by_id(user_id)
        return user.email if user is not None else user_id
