"""Workspaces, their members, invitations and audit trail in the database; and the condition
every campaign and job read goes through: the resource's workspace is one of the actor's
(and the one its token is limited to, if it is)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, ScalarSelect, Table, and_, delete, func, select, update
from sqlalchemy.orm import Session

from scrapetrack.access import ROLES, Actor
from scrapetrack.exceptions import InputError
from scrapetrack.store import listing
from scrapetrack.store.models import (
    AuditEvent,
    Invitation,
    Member,
    User,
    Workspace,
    utcnow,
)

MEMBERS = cast(Table, Member.__table__)


def role_in(actor: Actor, workspace: Any) -> ScalarSelect[str]:
    """The actor's role in `workspace` (a column), NULL when it is none of theirs: a scalar
    subquery to select beside a campaign or job."""
    query = select(MEMBERS.c.role).where(MEMBERS.c.workspace_id == workspace,
                                         MEMBERS.c.user_id == actor.id)
    if actor.workspace_id is not None:
        query = query.where(MEMBERS.c.workspace_id == actor.workspace_id)
    return query.scalar_subquery()


def visible(actor: Actor, workspace: Any) -> ColumnElement[bool]:
    """`workspace` (a column) is one the actor may see."""
    return role_in(actor, workspace).is_not(None)


MEMBERSHIP = "member:"


def membership(workspace_id: str, user_id: str) -> str:
    """A credential an event stream rests on beside its token or session: the user's
    membership of the stream's workspace. Removed, the stream ends."""
    return f"{MEMBERSHIP}{workspace_id}:{user_id}"


def live_memberships(s: Session, keys: Sequence[str]) -> set[str]:
    """Which of these membership credentials still stand."""
    pairs = {tuple(key.removeprefix(MEMBERSHIP).split(":", 1)) for key in keys}
    if not pairs:
        return set()
    rows = s.execute(select(MEMBERS.c.workspace_id, MEMBERS.c.user_id).where(
        MEMBERS.c.workspace_id.in_({w for w, _ in pairs}),
        MEMBERS.c.user_id.in_({u for _, u in pairs}))).all()
    return {membership(w, u) for w, u in rows if (w, u) in pairs}


@dataclass(frozen=True, slots=True)
class WorkspaceRole:
    workspace: Workspace
    role: str
    members: int


@dataclass(frozen=True, slots=True)
class MemberRow:
    user_id: str
    email: str
    role: str
    joined_at: datetime


class Transactions(Protocol):
    """The Store's two kinds of transaction (not imported: the Store reads through here)."""

    def reading(self) -> AbstractContextManager[Session]: ...

    def writing(self) -> AbstractContextManager[Session]: ...


class Workspaces:
    """The tables of teams, on the store's engine and transactions."""

    def __init__(self, store: Transactions) -> None:
        self.store = store

    def create(self, owner_id: str, name: str) -> Workspace:
        with self.store.writing() as s:
            workspace = Workspace(name=name)
            s.add(workspace)
            s.flush()
            s.add(Member(workspace_id=workspace.id, user_id=owner_id, role="owner"))
        return workspace

    def of(self, actor: Actor) -> list[WorkspaceRole]:
        """The actor's workspaces (personal first, then by name) with their role and size."""
        counted = MEMBERS.alias("counted")  # not the outer query's member row
        counts = select(func.count()).select_from(counted).where(
            counted.c.workspace_id == Workspace.id).scalar_subquery()
        query = select(Workspace, Member.role, counts).join(
            Member, and_(Member.workspace_id == Workspace.id, Member.user_id == actor.id))
        if actor.workspace_id is not None:
            query = query.where(Workspace.id == actor.workspace_id)
        with self.store.reading() as s:
            rows = s.execute(query.order_by(Workspace.personal_of.is_(None), Workspace.name,
                                            Workspace.id)).all()
            return [WorkspaceRole(row[0], row[1], int(row[2])) for row in rows]

    def get(self, actor: Actor, workspace_id: str) -> WorkspaceRole | None:
        return next((w for w in self.of(actor) if w.workspace.id == workspace_id), None)

    def by_id(self, workspace_id: str) -> Workspace | None:
        with self.store.reading() as s:
            return s.get(Workspace, workspace_id)

    def all(self) -> Sequence[Workspace]:
        with self.store.reading() as s:
            return s.scalars(select(Workspace).order_by(Workspace.created_at)).all()

    def delete(self, workspace_id: str) -> None:
        with self.store.writing() as s:  # campaigns, jobs, members... cascade
            s.execute(delete(Workspace).where(Workspace.id == workspace_id))

    # members --------------------------------------------------------------------------------
    def members(self, workspace_id: str) -> list[MemberRow]:
        with self.store.reading() as s:
            rows = s.execute(select(Member, User.email).join(User, User.id == Member.user_id)
                             .where(Member.workspace_id == workspace_id)
                             .order_by(Member.created_at, User.email)).all()
            return [MemberRow(m.user_id, email, m.role, m.created_at) for m, email in rows]

    def role(self, workspace_id: str, user_id: str) -> str | None:
        with self.store.reading() as s:
            return s.scalar(select(Member.role).where(Member.workspace_id == workspace_id,
                                                      Member.user_id == user_id))

    def add_member(self, workspace_id: str, user_id: str, role: str) -> bool:
        """Add a member, or change their role; False if nothing changed."""
        with self.store.writing() as s:
            found = s.get(Member, (workspace_id, user_id))
            if found is None:
                s.add(Member(workspace_id=workspace_id, user_id=user_id, role=role))
                return True
            if found.role == role:
                return False
            found.role = role
            return True

    def remove_member(self, workspace_id: str, user_id: str) -> bool:
        with self.store.writing() as s:
            done = s.execute(delete(Member).where(Member.workspace_id == workspace_id,
                                                  Member.user_id == user_id))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def transfer(self, workspace_id: str, from_id: str, to_id: str) -> None:
        """The owner's role to another member; the old owner stays as an admin."""
        with self.store.writing() as s:
            s.execute(update(Member).where(Member.workspace_id == workspace_id,
                                           Member.user_id == to_id).values(role="owner"))
            s.execute(update(Member).where(Member.workspace_id == workspace_id,
                                           Member.user_id == from_id).values(role="admin"))

    # invitations ----------------------------------------------------------------------------
    def invite(self, workspace_id: str, email: str, role: str, code_hash: str,
               invited_by: str | None, expires_at: datetime) -> Invitation:
        with self.store.writing() as s:
            invitation = Invitation(workspace_id=workspace_id, email=email, role=role,
                                    code_hash=code_hash, invited_by=invited_by,
                                    expires_at=expires_at)
            s.add(invitation)
        return invitation

    def pending(self, workspace_id: str, now: datetime) -> Sequence[Invitation]:
        with self.store.reading() as s:
            return s.scalars(select(Invitation).where(
                Invitation.workspace_id == workspace_id, Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None), Invitation.expires_at > now)
                .order_by(Invitation.created_at)).all()

    def invitation(self, code_hash: str, now: datetime) -> tuple[Invitation, Workspace] | None:
        """A live invitation (not accepted, revoked or expired) and its workspace."""
        with self.store.reading() as s:
            row = s.execute(select(Invitation, Workspace).join(
                Workspace, Workspace.id == Invitation.workspace_id).where(
                Invitation.code_hash == code_hash, Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None), Invitation.expires_at > now)).first()
            return None if row is None else (row[0], row[1])

    def accept(self, invitation_id: str, user_id: str, now: datetime) -> bool:
        """Spend the invitation and make the user a member with its role (a member keeps the
        higher of the two); False if it was spent or revoked meanwhile."""
        with self.store.writing() as s:
            spent = s.execute(update(Invitation).where(
                Invitation.id == invitation_id, Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None), Invitation.expires_at > now).values(
                accepted_at=now, accepted_by=user_id).returning(
                Invitation.workspace_id, Invitation.role)).first()
            if spent is None:
                return False
            workspace_id, role = spent
            found = s.get(Member, (workspace_id, user_id))
            if found is None:
                s.add(Member(workspace_id=workspace_id, user_id=user_id, role=role))
            elif ROLES.index(role) > ROLES.index(found.role):
                found.role = role
            return True

    def revoke_invitation(self, workspace_id: str, invitation_id: str, now: datetime) -> bool:
        with self.store.writing() as s:
            done = s.execute(update(Invitation).where(
                Invitation.id == invitation_id, Invitation.workspace_id == workspace_id,
                Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
                .values(revoked_at=now))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    # the audit trail ------------------------------------------------------------------------
    def audit_page(self, workspace_id: str, limit: int,
                   cursor: str | None) -> tuple[Sequence[AuditEvent], str | None]:
        """Newest first, keyset-paged on the id."""
        query = select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
        if cursor is not None:
            (last,) = listing.decode(cursor, 1)
            if not isinstance(last, int):
                raise InputError("cursor is not one this list gave")
            query = query.where(AuditEvent.id < last)
        with self.store.reading() as s:
            rows = s.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, listing.encode(rows[-1].id) if more and rows else None


def record(s: Session, workspace_id: str, actor: Actor | None, action: str,
           target: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """One audit entry, in the transaction of what it records (or its own)."""
    s.add(AuditEvent(workspace_id=workspace_id, actor_id=actor.id if actor else None,
                     actor_email=actor.email if actor else None, action=action,
                     target=target, detail=detail, at=utcnow()))

