"""FastAPI dependencies: the runtime, and who is asking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from scrapetrack.exceptions import Unauthorized
from scrapetrack.runtime import Runtime
from scrapetrack.service import Service
from scrapetrack.store.models import User
from scrapetrack.web import csrf

SESSION_USER = "user_id"
SESSION_TOKEN = "token_id"  # the token or code the browser signed in with
# Declares Bearer auth in the OpenAPI description; the header itself is parsed below, so a
# wrong scheme is a 401 rather than silently ignored.
BEARER = HTTPBearer(auto_error=False, description="An API token from `scrapetrack users create`")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# The trivial dependencies are async: FastAPI runs a sync one on the threadpool, a thread hop
# per request each. Only the one that reads the database stays sync.
async def get_service(request: Request) -> Service:
    return get_runtime(request).service


def bearer_token(request: Request) -> str | None:
    """The API token of `Authorization: Bearer TOKEN`; None without the header."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer TOKEN'")
    return token.strip()


def bearer_user(request: Request) -> User | None:
    """The owner of the request's Bearer token; None when it has no Authorization header."""
    token = bearer_token(request)
    return None if token is None else get_runtime(request).accounts.authenticate(token)


def session_user(request: Request) -> User | None:
    """The browser session's user, while the token it signed in with stands."""
    user_id, token_id = request.session.get(SESSION_USER), request.session.get(SESSION_TOKEN)
    if not (isinstance(user_id, str) and isinstance(token_id, str)):
        return None
    user = get_runtime(request).accounts.session_user(user_id, token_id)
    if user is None:  # revoked meanwhile: forget the session
        request.session.clear()
    return user


def optional_user(request: Request) -> User | None:
    """For pages: a Bearer token, or the session (pages check CSRF on their own forms)."""
    return bearer_user(request) or session_user(request)


def require_user(request: Request) -> User:
    """A Bearer token's owner, or the session's user plus its CSRF token on unsafe methods;
    also for routes that authenticate inside a thread they already run in."""
    user = bearer_user(request)
    if user is not None:
        return user
    user = session_user(request)
    if user is None:
        raise Unauthorized()
    if request.method not in csrf.SAFE_METHODS:
        csrf.check(request, request.headers.get(csrf.HEADER))
    return user


def current_user(request: Request,
                 _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> User:
    """For the API (the BEARER dependency declares the scheme in the OpenAPI description)."""
    return require_user(request)


CurrentUser = Annotated[User, Depends(current_user)]
ServiceDep = Annotated[Service, Depends(get_service)]
