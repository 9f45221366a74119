"""FastAPI dependencies: the runtime, and who is asking."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from scrapetrack.exceptions import Unauthorized
from scrapetrack.runtime import Runtime
from scrapetrack.service import Service
from scrapetrack.store.models import User

SESSION_USER = "user_id"


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


def optional_user(request: Request) -> User | None:
    runtime = get_runtime(request)
    token = bearer_token(request)
    if token is not None:
        return runtime.accounts.authenticate(token)
    user_id = request.session.get(SESSION_USER)
    if user_id:
        return runtime.accounts.user(user_id)
    return None


def require_user(request: Request) -> User:
    """current_user, called from a thread a route already runs in."""
    user = optional_user(request)
    if user is None:
        raise Unauthorized()
    return user


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[User, Depends(current_user)]
ServiceDep = Annotated[Service, Depends(get_service)]
