"""create_app: the FastAPI app, its middleware, routes, and a lifespan that owns the runtime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from scrapetrack import __version__
from scrapetrack.config import Settings
from scrapetrack.creators import http_url
from scrapetrack.runtime import Runtime, build_runtime, make_stream_slots, make_tracing
from scrapetrack.web import errors
from scrapetrack.web.request_spans import telemetry
from scrapetrack.web.routes import (
    api,
    creators,
    docs,
    events,
    health,
    metrics,
    pages,
    qstash,
    schedule_pages,
    schedules,
    settings_pages,
    team_pages,
    webhooks,
    workspaces,
)
from scrapetrack.web.security import BodyLimit, SecurityHeaders
from scrapetrack.web.sse import StreamingApp

HERE = Path(__file__).parent
SESSION_DAYS = 14
log = logging.getLogger(__name__)


def create_app(settings: Settings, *, runtime: Runtime | None = None,
               worker: bool = True) -> FastAPI:
    """The app. Given a runtime, the caller owns it; otherwise the lifespan builds one."""
    settings = settings.with_secret_key()
    # Known before the app exists: FastAPI's request spans are configured when it is made.
    tracing = runtime.tracing if runtime is not None else make_tracing(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None
        rt: Runtime = runtime if runtime is not None else await run_in_threadpool(
            build_runtime, settings, tracing=tracing)
        app.state.runtime = rt
        rt.accounts.remember_credentials(settings.credential_cache_seconds)
        await rt.hub.start()
        uses = asyncio.create_task(rt.accounts.uses.keep_writing(), name="token-uses")
        if worker:
            rt.start_worker()
        try:
            yield
        finally:
            uses.cancel()
            await asyncio.gather(uses, return_exceptions=True)
            await rt.hub.stop()
            await app.state.stream_slots.close()
            try:  # the last uses noted
                await run_in_threadpool(rt.accounts.uses.write)
            except Exception:
                log.exception("could not write the API tokens' last uses")
            if owned:
                await run_in_threadpool(rt.close)
            elif worker:
                await run_in_threadpool(rt.stop_worker)

    # /docs is served by routes/docs.py: FastAPI's own page has an inline script.
    # No trailing-slash redirects: Starlette builds their Location from the Host header.
    # Operation ids are the route functions' names (create_campaign, get_job, ...).
    app = StreamingApp(title="scrapetrack", version=__version__, lifespan=lifespan,
                       docs_url=None, redoc_url=None, redirect_slashes=False,
                       description="Creator-discovery scraping jobs with live progress.",
                       generate_unique_id_function=lambda route: route.name,
                       telemetry=telemetry(tracing))
    assert settings.secret_key is not None
    public_https = (settings.public_url or "").startswith("https://")
    # Signed (itsdangerous), HttpOnly, SameSite=Lax; Secure added by SecurityHeaders on HTTPS.
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key.get_secret_value(),
                       session_cookie="scrapetrack_session", max_age=SESSION_DAYS * 86400,
                       same_site="lax", https_only=public_https)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, always_https=public_https)
    app.state.stream_slots = make_stream_slots(settings)
    app.state.templates = Jinja2Templates(directory=HERE / "templates")
    app.state.templates.env.globals["sandbox"] = settings.uses_sandbox  # the yellow banner
    app.state.templates.env.globals["version"] = __version__  # the footer
    app.state.templates.env.filters["http_url"] = http_url  # links only to http(s) pages
    app.state.qstash_limiter = anyio.CapacityLimiter(settings.worker_concurrency)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(creators.router)
    app.include_router(events.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    app.include_router(pages.router)
    app.include_router(qstash.router)
    app.include_router(workspaces.router)
    app.include_router(team_pages.router)
    app.include_router(schedules.router)
    app.include_router(schedule_pages.router)
    app.include_router(webhooks.router)
    app.include_router(settings_pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount(docs.ASSETS_URL, docs.assets(), name="docs-assets")
    if settings.uses_sandbox and not settings.apify_api_url:
        from scrapetrack.sandbox.app import SANDBOX_RUNS_FILE, create_sandbox_app
        from scrapetrack.sandbox.state import SandboxLimits

        app.mount("/sandbox", create_sandbox_app(
            items_per_second=settings.sandbox_items_per_second,
            start_delay_seconds=settings.sandbox_start_delay_seconds,
            faults=settings.sandbox_faults, token=settings.sandbox_token(),
            limits=SandboxLimits(max_run_items=settings.max_target_results),
            keep_runs_in=settings.data_dir / SANDBOX_RUNS_FILE))
    return app
