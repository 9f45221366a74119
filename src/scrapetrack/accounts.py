"""Users, API tokens, one-time sign-in codes and browser sessions. Secrets are kept as
SHA-256 only.

A browser session is a row of its own (kind "session"), named in the signed cookie with the
token or code that opened it: signing out revokes the row, and revoking that token (or all of
a user's), or removing the user, ends the session too. An open event stream rests on the
same credentials, and ends once one of them no longer stands.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scrapetrack.access import Actor
from scrapetrack.exceptions import InputError, NotFound, Unauthorized
from scrapetrack.jobs import JobRecord
from scrapetrack.store.models import ApiToken, User, utcnow
from scrapetrack.store.repository import DeferWrite, Store
from scrapetrack.store.workspaces import Workspaces

TOKEN_PREFIX = "st_"
OWNER_EMAIL = "owner@localhost"
LOGIN_CODE_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(days=14)  # the session cookie's own max_age
CODE_REFUSED = ("That sign-in link is not valid: a code works once, for "
                f"{LOGIN_CODE_LIFETIME.seconds // 60} minutes")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    user: User
    token: str


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What `users list` shows of a token: never the token, only its first characters."""

    id: str
    email: str
    prefix: str
    kind: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken, email: str) -> TokenInfo:
        return cls(token.id, email, token.prefix, token.kind, token.created_at,
                   token.last_used_at, token.revoked_at, token.expires_at)


@dataclass(frozen=True, slots=True)
class SignIn:
    user: User
    session_id: str  # the session's own row: signing out revokes it
    token_id: str  # the token or code that opened it


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as, and the credentials it rests on: its API token, or its
    session and the token or code that opened that; and the one workspace they are limited
    to, if they are."""

    user: User
    credentials: tuple[str, ...]
    workspace_id: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.user.id, self.user.email, self.workspace_id)


class Accounts:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create_user(self, email: str) -> NewToken:
        email = email.strip().lower()
        if "@" not in email or len(email) > 320 or not email.isprintable() or " " in email:
            raise InputError("Give a valid email address")
        if self.store.user_by_email(email) is not None:
            raise InputError(f"A user with email {email} already exists")
        user = self.store.create_user(email)
        return NewToken(user, self.issue_token(user.id))

    def issue_token(self, user_id: str, workspace_id: str | None = None) -> str:
        """A new API token; with `workspace_id`, one that acts in that workspace only."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.store.add_token(user_id, hash_token(token), token[:10], "api",
                             workspace_id=workspace_id)
        return token

    def login_code(self, email: str = OWNER_EMAIL) -> str:
        """A one-time code that signs a browser in as the user (the local owner, made if
        missing, by default), valid for LOGIN_CODE_LIFETIME."""
        user = self.store.user_by_email(email.strip().lower())
        if user is None and email == OWNER_EMAIL:
            user = self.store.create_user(OWNER_EMAIL)
        if user is None:
            raise NotFound(f"No user with email {email.strip()}")
        code = secrets.token_urlsafe(24)
        self.store.add_token(user.id, hash_token(code), code[:10], "login",
                             expires_at=utcnow() + LOGIN_CODE_LIFETIME)
        return code

    def authenticate(self, token: str) -> Principal:
        found = self.store.user_for_token(hash_token(token), utcnow())
        if found is None:
            raise Unauthorized("Invalid or revoked token")
        user, token_id, workspace_id = found
        return Principal(user, (token_id,), workspace_id)

    def job_state(self, token: str, job_id: str,
                  later: DeferWrite | None = None) -> JobRecord | None:
        """An API token's owner's job (None if they have no such job), checked together:
        what the original design's status pollers ask for, in one query (see
        Store.job_state_for_token for `later`)."""
        live, job = self.store.job_state_for_token(hash_token(token), job_id, utcnow(), later)
        if not live:
            raise Unauthorized("Invalid or revoked token")
        return job

    def code_owner(self, code: str) -> User:
        """Whom a sign-in code would sign in, before it is spent (the page asks first)."""
        user = self.store.code_owner(hash_token(code), utcnow())
        if user is None:
            raise Unauthorized(CODE_REFUSED)
        return user

    def sign_in(self, secret: str, *, codes_only: bool = False) -> SignIn:
        """Open a browser session with a one-time code, or (pasted in the form, never in a
        link) an API token."""
        now = utcnow()
        found = self.store.token_owner(hash_token(secret), "login", now)
        if found is None and not codes_only:
            found = self.store.token_owner(hash_token(secret), "api", now)
        if found is None:
            raise Unauthorized(CODE_REFUSED if codes_only else
                               "That token or code is not valid (codes work once)")
        opener, user = found
        session = secrets.token_urlsafe(24)
        row = self.store.add_token(user.id, hash_token(session), session[:10], "session",
                                   expires_at=now + SESSION_LIFETIME,
                                   workspace_id=opener.workspace_id)  # limited as its opener
        return SignIn(user, row.id, opener.id)

    def sign_out(self, session_id: str) -> None:
        self.store.revoke_tokens([session_id], utcnow())

    def user(self, user_id: str) -> User | None:
        return self.store.user_by_id(user_id)

    def session_user(self, user_id: str, session_id: str, token_id: str) -> Principal | None:
        """The session's user, while neither the session nor what opened it is revoked."""
        found = self.store.session_user(user_id, session_id, token_id, utcnow())
        return None if found is None else Principal(found[0], (session_id, token_id), found[1])

    def live_credentials(self, ids: Iterable[str]) -> set[str]:
        return self.store.live_credentials(ids, utcnow())

    # listing and revoking -----------------------------------------------------------------
    def tokens(self, email: str | None = None) -> list[TokenInfo]:
        user_id = self._user_of(email).id if email else None
        return [TokenInfo.of(t, e) for t, e in self.store.tokens(user_id)]

    def new_token(self, email: str, workspace_id: str | None = None) -> str:
        """Another API token for an existing user (after revoking a leaked one); with
        `workspace_id` (one of theirs), one that acts there only."""
        user = self._user_of(email)
        if workspace_id is not None and Workspaces(self.store).role(workspace_id, user.id) is None:
            raise NotFound(f"{user.email} is not a member of workspace {workspace_id}")
        return self.issue_token(user.id, workspace_id)

    def revoke(self, ref: str) -> TokenInfo:
        """Revoke one token by its id or its prefix (as `users list` shows it)."""
        ref = ref.strip()
        matches = [TokenInfo.of(t, e) for t, e in self.store.tokens()
                   if ref and ref in (t.id, t.prefix)]
        if not matches:
            raise NotFound(f"No token with id or prefix {ref!r}")
        if len(matches) > 1:
            raise InputError(f"{len(matches)} tokens start with {ref!r}; give the token's id")
        self.store.revoke_tokens([matches[0].id], utcnow())
        return matches[0]

    def revoke_all(self, email: str) -> int:
        """Revoke every token and sign-in code of a user: their sessions end too."""
        return self.store.revoke_tokens(
            [t.id for t, _ in self.store.tokens(self._user_of(email).id)], utcnow())

    def _user_of(self, email: str) -> User:
        user = self.store.user_by_email(email.strip().lower())
        if user is None:
            raise NotFound(f"No user with email {email.strip()}")
        return user
