"""The sandbox: an ASGI app that answers the slice of Apify's API v2 that apify-client uses.

Mounted at `/sandbox` by `make serve` (so apify-client's `api_url` is `http://host:port/sandbox`)
and served alone by the tests and `scrapetrack sandbox`. Routes, as the real client calls them:

    POST /v2/acts/{actor}/runs              start a run (also /v2/actors/..., and owner/name)
    GET  /v2/actor-runs/{run}               the run; ?waitForFinish=N holds up to 60 s
    POST /v2/actor-runs/{run}/abort         abort it (also under /v2/acts/{actor}/runs/{run})
    GET  /v2/datasets/{dataset}             dataset info; itemCount lags like Apify's
    GET  /v2/datasets/{dataset}/items       JSON array + X-Apify-Pagination-* headers
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from scrapetrack.sandbox.resources import dataset_json, error_json, run_json
from scrapetrack.sandbox.state import Clock, SandboxError, SandboxRun, SandboxState

MAX_WAIT_SECONDS = 60  # Apify's own cap on waitForFinish
NO_LIMIT = 999_999_999_999  # what Apify puts in X-Apify-Pagination-Limit without ?limit=
_POLL_SECONDS = 0.05


def create_sandbox_app(*, items_per_second: float = 25.0, start_delay_seconds: float = 1.5,
                       clock: Clock = time.monotonic, token: str | None = None) -> ASGIApp:
    """Build a sandbox with its own in-memory state.

    `items_per_second` and `start_delay_seconds` are the default pace of every run (a run's
    input may override them under `_sandbox`); `clock` drives run progress, so tests may pass
    a fake one. With `token` set, requests must carry it, like the real API; without, any or
    no token is accepted.
    """
    state = SandboxState(items_per_second=items_per_second,
                         start_delay_seconds=start_delay_seconds, clock=clock)
    api = _Api(state)
    routes = [
        *(Route(f"/v2/{kind}/{actor}/runs", api.start_run, methods=["POST"])
          for kind in ("acts", "actors") for actor in ("{actor_id}", "{owner}/{name}")),
        Route("/v2/actor-runs/{run_id}", api.get_run, methods=["GET"]),
        Route("/v2/actor-runs/{run_id}/abort", api.abort_run, methods=["POST"]),
        Route("/v2/actor-runs/{run_id}/dataset/items", api.run_items, methods=["GET"]),
        *(Route(f"/v2/{kind}/{{actor_id}}/runs/{{run_id}}", api.get_run, methods=["GET"])
          for kind in ("acts", "actors")),
        *(Route(f"/v2/{kind}/{{actor_id}}/runs/{{run_id}}/abort", api.abort_run,
                methods=["POST"]) for kind in ("acts", "actors")),
        Route("/v2/datasets/{dataset_id}", api.get_dataset, methods=["GET"]),
        Route("/v2/datasets/{dataset_id}/items", api.dataset_items, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={
        SandboxError: _sandbox_error, HTTPException: _http_error,  # type: ignore[dict-item]
    })
    app.state.sandbox = state  # for tests and the UI's "sandbox" badge
    return _TokenCheck(app, token) if token else app


class _Api:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def start_run(self, request: Request) -> Response:
        params = request.path_params
        actor_id = params.get("actor_id") or f"{params['owner']}~{params['name']}"
        body = await _body(request)
        try:
            run_input = json.loads(body) if body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SandboxError(400, "invalid-input", f"Input is not valid JSON: {exc}") from None
        if not isinstance(run_input, dict):
            raise SandboxError(400, "invalid-input", "Input must be a JSON object")
        run = self.state.start(actor_id.replace("/", "~"), run_input, input_len=len(body),
                               max_items_param=_int_param(request, "maxItems"))
        await self._wait(run, _int_param(request, "waitForFinish") or 0)
        return JSONResponse({"data": run_json(run, self.state.clock())}, status_code=201)

    async def get_run(self, request: Request) -> Response:
        run = self.state.run(request.path_params["run_id"])
        await self._wait(run, _int_param(request, "waitForFinish") or 0)
        return JSONResponse({"data": run_json(run, self.state.clock())})

    async def abort_run(self, request: Request) -> Response:
        run = self.state.abort(request.path_params["run_id"])
        return JSONResponse({"data": run_json(run, self.state.clock())})

    async def get_dataset(self, request: Request) -> Response:
        run = self.state.dataset(request.path_params["dataset_id"])
        return JSONResponse({"data": dataset_json(run, self.state.clock())})

    async def dataset_items(self, request: Request) -> Response:
        return _items_response(request, self.state.dataset(request.path_params["dataset_id"]),
                               self.state.clock())

    async def run_items(self, request: Request) -> Response:
        return _items_response(request, self.state.run(request.path_params["run_id"]),
                               self.state.clock())

    async def _wait(self, run: SandboxRun, seconds: int) -> None:
        """Hold the request until the run finishes or `seconds` (≤ 60) pass, like Apify.

        Real seconds bound the wait, while the injected clock decides when the run is done,
        so a frozen test clock cannot hang a request.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(seconds, 0), MAX_WAIT_SECONDS)
        while not run.status(self.state.clock()).finished:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(_POLL_SECONDS, remaining))


def _items_response(request: Request, run: SandboxRun, now: float) -> Response:
    query = request.query_params
    if query.get("format", "json") != "json":
        raise SandboxError(400, "invalid-parameter", "The sandbox serves only format=json")
    offset = _int_param(request, "offset") or 0
    limit = _int_param(request, "limit")
    desc = _bool_param(request, "desc")
    clean = _bool_param(request, "clean")
    available = run.produced(now)
    stop = available if limit is None else min(available, offset + limit)
    if desc:  # newest first: offset counts from the end
        rows = list(reversed(run.items(0, available)))[offset:stop]
    else:
        rows = run.items(offset, stop) if offset < stop else []
    scanned = len(rows)
    if clean or _bool_param(request, "skipHidden"):
        rows = [{k: v for k, v in row.items() if not k.startswith("#")} for row in rows]
    if clean or _bool_param(request, "skipEmpty"):
        rows = [row for row in rows if row]
    headers = {
        # Like Apify, the total is the dataset's (lagging) itemCount, not what was just read.
        "X-Apify-Pagination-Total": str(run.item_count(now)),
        "X-Apify-Pagination-Offset": str(offset),
        "X-Apify-Pagination-Limit": str(NO_LIMIT if limit is None else limit),
        "X-Apify-Pagination-Count": str(scanned),
        "X-Apify-Pagination-Desc": "true" if desc else "false",
    }
    return JSONResponse(rows, headers=headers)


async def _body(request: Request) -> bytes:
    """The request body, un-gzipped: apify-client compresses inputs of 1 KiB or more."""
    body = await request.body()
    encoding = request.headers.get("content-encoding", "identity").lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError) as exc:
        raise SandboxError(400, "invalid-input", f"Cannot decode the {encoding} body: {exc}") \
            from None
    if encoding != "identity":
        raise SandboxError(415, "unsupported-content-encoding",
                           f"Content-Encoding {encoding} is not supported by the sandbox")
    return body


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise SandboxError(400, "invalid-parameter",
                           f"Parameter '{name}' must be an integer, got '{raw}'") from None
    if value < 0:
        raise SandboxError(400, "invalid-parameter", f"Parameter '{name}' must be >= 0")
    return value


def _bool_param(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true")


async def _sandbox_error(request: Request, exc: SandboxError) -> Response:
    return JSONResponse(error_json(exc.type, exc.message), status_code=exc.status)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    kind = {404: "page-not-found", 405: "method-not-allowed"}.get(exc.status_code, "error")
    message = f"{exc.detail}: {request.method} {request.url.path}"
    return JSONResponse(error_json(kind, message), status_code=exc.status_code)


class _TokenCheck:
    """Answers 401 like Apify when the expected token is missing (header or ?token=)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if (given or request.query_params.get("token")) != self.token:
                body: dict[str, Any] = error_json(
                    "user-or-token-not-found" if given else "token-not-provided",
                    "User was not found or authentication token is not valid")
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)
