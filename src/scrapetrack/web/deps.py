"""FastAPI dependencies: the parts of the runtime a route needs, each on its own, and who
is asking. Routes take these, never the whole runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from scrapetrack.access import Actor
from scrapetrack.accounts import Accounts, Principal
from scrapetrack.config import Settings
from scrapetrack.events.base import Bus
from scrapetrack.events.hub import Hub
from scrapetrack.exceptions import Unauthorized
from scrapetrack.metrics import Metrics
from scrapetrack.queue import Queue
from scrapetrack.runtime import Runtime
from scrapetrack.schedules import Schedules
from scrapetrack.service import Service
from scrapetrack.store.repository import Store
from scrapetrack.teams import Teams
from scrapetrack.web import csrf
from scrapetrack.webhooks import Webhooks

SESSION_USER = "user_id"
SESSION_ID = "session_id"  # the session's own row
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


async def get_settings(request: Request) -> Settings:
    return get_runtime(request).settings


async def get_accounts(request: Request) -> Accounts:
    return get_runtime(request).accounts


async def get_store(request: Request) -> Store:
    return get_runtime(request).store


async def get_hub(request: Request) -> Hub:
    return get_runtime(request).hub


async def get_queue(request: Request) -> Queue:
    return get_runtime(request).queue


async def get_bus(request: Request) -> Bus:
    return get_runtime(request).bus


async def get_reaper(request: Request) -> Callable[[], object]:
    return get_runtime(request).reap


async def get_metrics(request: Request) -> Metrics:
    return get_runtime(request).metrics


async def get_teams(request: Request) -> Teams:
    return get_runtime(request).teams


async def get_schedules(request: Request) -> Schedules:
    return get_runtime(request).schedules


async def get_webhooks(request: Request) -> Webhooks:
    return get_runtime(request).webhooks


def bearer_token(request: Request) -> str | None:
    """The API token of `Authorization: Bearer TOKEN`; None without the header."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer TOKEN'")
    return token.strip()


def bearer_principal(request: Request) -> Principal | None:
    """Who the request's Bearer token is; None when it has no Authorization header."""
    token = bearer_token(request)
    return None if token is None else get_runtime(request).accounts.authenticate(token)


def session_ids(request: Request) -> tuple[str, str, str] | None:
    """The user, session and opener ids the signed cookie names; None without a session."""
    ids = [request.session.get(key) for key in (SESSION_USER, SESSION_ID, SESSION_TOKEN)]
    if not all(isinstance(value, str) for value in ids):
        return None
    user_id, session_id, token_id = cast(list[str], ids)
    return user_id, session_id, token_id


def session_principal(request: Request) -> Principal | None:
    """The browser session's user, while the session and what opened it stand."""
    ids = session_ids(request)
    if ids is None:
        return None
    found = get_runtime(request).accounts.session_user(*ids)
    if found is None:  # signed out, revoked or removed meanwhile: forget the session
        request.session.clear()
    return found


def optional_user(request: Request) -> Actor | None:
    """For pages: a Bearer token, or the session (pages check CSRF on their own forms)."""
    found = bearer_principal(request) or session_principal(request)
    return None if found is None else _acting(request, found)


def require_user(request: Request) -> Actor:
    """A Bearer token's owner, or the session's user plus its CSRF token on unsafe methods;
    also for routes that authenticate inside a thread they already run in."""
    found = bearer_principal(request)
    if found is None:
        found = session_principal(request)
        if found is None:
            raise Unauthorized()
        if request.method not in csrf.SAFE_METHODS:
            csrf.check(request, request.headers.get(csrf.HEADER))
    return _acting(request, found)


def remembered_user(request: Request) -> Actor | None:
    """require_user's answer when this process remembers the request's token or session:
    no read, so no thread; None when require_user must read."""
    accounts = get_runtime(request).accounts
    token = bearer_token(request)
    if token is not None:
        found = accounts.remembered(token)
    elif (ids := session_ids(request)) is None:
        raise Unauthorized()
    else:
        found = accounts.remembered_session(*ids)
        if found is not None and request.method not in csrf.SAFE_METHODS:
            csrf.check(request, request.headers.get(csrf.HEADER))
    return None if found is None else _acting(request, found)


def _acting(request: Request, found: Principal) -> Actor:
    """What the request rests on is kept on it, so an event stream can end once that no
    longer stands."""
    request.state.credentials = found.credentials
    return found.actor


async def current_user(request: Request,
                       _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
                       ) -> Actor:
    """For the API (the BEARER dependency declares the scheme in the OpenAPI description):
    on the event loop when this process remembers who is asking, else a read on the
    threadpool. After a restart every page reconnects at once; each thread hop spared counts."""
    known = remembered_user(request)
    return known if known is not None else await run_in_threadpool(require_user, request)


async def known_user(request: Request,
                     _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
                     ) -> Actor | None:
    """current_user when this process remembers who is asking, else None: for a sync route
    that reads anyway, which then calls require_user on its own thread (one hop, not two)."""
    return remembered_user(request)


CurrentUser = Annotated[Actor, Depends(current_user)]
KnownUser = Annotated[Actor | None, Depends(known_user)]
ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]
StoreDep = Annotated[Store, Depends(get_store)]
HubDep = Annotated[Hub, Depends(get_hub)]
QueueDep = Annotated[Queue, Depends(get_queue)]
BusDep = Annotated[Bus, Depends(get_bus)]
ReaperDep = Annotated[Callable[[], object], Depends(get_reaper)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
TeamsDep = Annotated[Teams, Depends(get_teams)]
SchedulesDep = Annotated[Schedules, Depends(get_schedules)]
WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]
