"""Who may do what in a workspace. Roles rank viewer < member < admin < owner; each action
needs a least role. Outside a workspace a resource is missing (404), never forbidden: only
members learn that it exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scrapetrack.exceptions import Forbidden, InputError

Role = Literal["viewer", "member", "admin", "owner"]
ROLES: tuple[Role, ...] = ("viewer", "member", "admin", "owner")

READ: Role = "viewer"  # see campaigns, searches, creators, live progress; export
WORK: Role = "member"  # start, cancel, re-run and delete searches; edit creators; campaigns
MANAGE: Role = "admin"  # members, invitations, the audit trail; delete campaigns
OWN: Role = "owner"  # delete the workspace, transfer ownership


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a request acts as: a user, and the one workspace its token is limited to."""

    id: str  # the user's
    email: str
    workspace_id: str | None = None


def role(value: str) -> Role:
    """A role as given in a request, checked."""
    for known in ROLES:
        if value == known:
            return known
    raise InputError(f"role must be one of {', '.join(ROLES)}")


def allows(held: str, least: Role) -> bool:
    return held in ROLES and ROLES.index(held) >= ROLES.index(least)


def require(held: str, least: Role) -> None:
    if not allows(held, least):
        raise Forbidden(f"Your role in this workspace ({held}) cannot do this; it needs "
                        f"{least} or above")
