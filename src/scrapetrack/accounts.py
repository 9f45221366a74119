"""Users, API tokens, one-time sign-in codes and browser sessions. Secrets are kept as
SHA-256 only.

A browser session is a row of its own (kind "session"), named in the signed cookie with the
token or code that opened it: signing out revokes the row, and revoking that token (or all of
a user's), or removing the user, ends the session too. An open event stream rests on the
same credentials, and ends once one of them no longer stands.

A web process remembers whom a token or session is for a few seconds (credential_cache.py)
and writes tokens' last uses in batches (token_uses.py): see docs/security.md for what that
means for revocation.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from scrapetrack.access import Actor
from scrapetrack.credential_cache import CredentialCache, Found
from scrapetrack.exceptions import InputError, NotFound, Unauthorized
from scrapetrack.jobs import JobRecord
from scrapetrack.store.models import ApiToken, User, utcnow
from scrapetrack.store.repository import Store
from scrapetrack.store.workspaces import Workspaces
from scrapetrack.token_uses import TokenUses

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
    def of(cls, token: ApiToken, email: str, used: datetime | None = None) -> TokenInfo:
        """`used`: a later use than the row's, noted and not written yet."""
        last = max((t for t in (token.last_used_at, used) if t is not None), default=None)
        return cls(token.id, email, token.prefix, token.kind, token.created_at, last,
                   token.revoked_at, token.expires_at)


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
        # Off until a web process turns it on (remember_credentials): a command reads afresh.
        self.cache = CredentialCache[Principal]()
        self.uses = TokenUses(store)  # written by the web process's lifespan

    def remember_credentials(self, seconds: float) -> None:
        """Remember whom a token or session is for `seconds` (0: not at all)."""
        self.cache = CredentialCache[Principal](seconds)

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
        now, token_hash = utcnow(), hash_token(token)

        def read() -> Found[Principal] | None:
            owner = self.store.user_for_token(token_hash, now)
            if owner is None:
                return None
            credentials = (owner.token_id,)
            return Found(Principal(owner.user, credentials, owner.workspace_id), credentials,
                         owner.expires_at)

        found = self.cache.get(("token", token_hash), now, read)
        if found is None:
            raise Unauthorized("Invalid or revoked token")
        self.uses.note(found.credentials[0], now)
        return found

    def remembered(self, token: str) -> Principal | None:
        """authenticate's answer if this process remembers the token, without a read (so
        on the event loop, without a thread); None when authenticate must read."""
        now = utcnow()
        found = self.cache.kept(("token", hash_token(token)), now)
        if found is not None:
            self.uses.note(found.credentials[0], now)
        return found

    def job_state(self, token: str, job_id: str) -> JobRecord | None:
        """An API token's owner's job (None if they have no such job), checked together:
        what the original design's status pollers ask for, in one query."""
        now = utcnow()
        token_id, job = self.store.job_state_for_token(hash_token(token), job_id, now)
        if token_id is None:
            raise Unauthorized("Invalid or revoked token")
        self.uses.note(token_id, now)
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
        if opener.kind == "api":
            self.uses.note(opener.id, now)
        session = secrets.token_urlsafe(24)
        row = self.store.add_token(user.id, hash_token(session), session[:10], "session",
                                   expires_at=now + SESSION_LIFETIME,
                                   workspace_id=opener.workspace_id)  # limited as its opener
        return SignIn(user, row.id, opener.id)

    def sign_out(self, session_id: str) -> None:
        self.store.revoke_tokens([session_id], utcnow())
        self.cache.forget([session_id])

    def user(self, user_id: str) -> User | None:
        return self.store.user_by_id(user_id)

    def session_user(self, user_id: str, session_id: str, token_id: str) -> Principal | None:
        """The session's user, while neither the session nor what opened it is revoked."""
        now, credentials = utcnow(), (session_id, token_id)

        def read() -> Found[Principal] | None:
            found = self.store.session_user(user_id, session_id, token_id, now)
            if found is None:
                return None
            user, workspace_id, expires_at = found
            return Found(Principal(user, credentials, workspace_id), credentials, expires_at)

        return self.cache.get(("session", user_id, *credentials), now, read)

    def remembered_session(self, user_id: str, session_id: str,
                           token_id: str) -> Principal | None:
        """session_user's answer if this process remembers the session, without a read;
        None when session_user must read."""
        return self.cache.kept(("session", user_id, session_id, token_id), utcnow())

    def live_credentials(self, ids: Iterable[str]) -> set[str]:
        return self.store.live_credentials(ids, utcnow())

    # listing and revoking -----------------------------------------------------------------
    def tokens(self, email: str | None = None) -> list[TokenInfo]:
        user_id = self._user_of(email).id if email else None
        return [TokenInfo.of(t, e, self.uses.last(t.id)) for t, e in self.store.tokens(user_id)]

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
        self.cache.forget([matches[0].id])
        return matches[0]

    def revoke_all(self, email: str) -> int:
        """Revoke every token and sign-in code of a user: their sessions end too."""
        ids = [t.id for t, _ in self.store.tokens(self._user_of(email).id)]
        revoked = self.store.revoke_tokens(ids, utcnow())
        self.cache.forget(ids)
        return revoked

    def _user_of(self, email: str) -> User:
        user = self.store.user_by_email(email.strip().lower())
        if user is None:
            raise NotFound(f"No user with email {email.strip()}")
        return user
