"""Users, API tokens and one-time sign-in codes. Tokens are kept as SHA-256 only."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from scrapetrack.exceptions import InputError, Unauthorized
from scrapetrack.jobs import JobRecord
from scrapetrack.store.models import User, utcnow
from scrapetrack.store.repository import Store

TOKEN_PREFIX = "st_"
OWNER_EMAIL = "owner@localhost"
LOGIN_CODE_LIFETIME = timedelta(hours=12)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewToken:
    user: User
    token: str


class Accounts:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create_user(self, email: str) -> NewToken:
        email = email.strip().lower()
        if "@" not in email or len(email) > 320:
            raise InputError("Give a valid email address")
        if self.store.user_by_email(email) is not None:
            raise InputError(f"A user with email {email} already exists")
        user = self.store.create_user(email)
        return NewToken(user, self.issue_token(user.id))

    def issue_token(self, user_id: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.store.add_token(user_id, hash_token(token), token[:10], "api")
        return token

    def owner_login_code(self) -> str:
        """Make sure the local owner exists, and give a one-time code to sign them in."""
        owner = self.store.user_by_email(OWNER_EMAIL) or self.store.create_user(OWNER_EMAIL)
        code = secrets.token_urlsafe(24)
        self.store.add_token(owner.id, hash_token(code), code[:10], "login",
                             expires_at=utcnow() + LOGIN_CODE_LIFETIME)
        return code

    def authenticate(self, token: str) -> User:
        user = self.store.user_for_token(hash_token(token), "api", utcnow())
        if user is None:
            raise Unauthorized("Invalid or revoked token")
        return user

    def job_state(self, token: str, job_id: str) -> JobRecord | None:
        """An API token's owner's job (None if they have no such job), checked together:
        what the seed's status pollers ask for, in one query."""
        live, job = self.store.job_state_for_token(hash_token(token), job_id, utcnow())
        if not live:
            raise Unauthorized("Invalid or revoked token")
        return job

    def redeem_login(self, secret: str) -> User:
        """A browser signs in with an API token or a one-time code."""
        now = utcnow()
        user = (self.store.user_for_token(hash_token(secret), "login", now)
                or self.store.user_for_token(hash_token(secret), "api", now))
        if user is None:
            raise Unauthorized("That token or code is not valid (codes work once)")
        return user

    def user(self, user_id: str) -> User | None:
        return self.store.user_by_id(user_id)
