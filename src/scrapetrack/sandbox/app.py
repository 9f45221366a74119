"""The sandbox: an ASGI app that answers the slice of Apify's API v2 that apify-client uses.

Mounted at `/sandbox` by `make serve` (so apify-client's `api_url` is `http://host:port/sandbox`)
and served alone by the tests and `scrapetrack sandbox`. Routes, as the real client calls them:

    POST /v2/acts/{actor}/runs              start a run (also /v2/actors/..., and owner/name)
    GET  /v2/actor-runs/{run}               the run; ?waitForFinish=N holds up to 60 s
    POST /v2/actor-runs/{run}/abort         abort it (also under /v2/acts/{actor}/runs/{run})
    GET  /v2/datasets/{dataset}             dataset info; itemCount lags like Apify's
    GET  /v2/datasets/{dataset}/items       JSON array + X-Apify-Pagination-* headers

Built with `log_requests=True` (benchmarks, tests), it also keeps when each request came, its
method and path, and answers `GET /v2/_sandbox/requests[?offset=N]` with them: no Apify route.

Before answering, each handler asks the fault plans (`faults.py`) whether this request goes
wrong, and if so answers 429/5xx, resets the connection, answers late, or mangles its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import json
import socket
import struct
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from scrapetrack.sandbox.faults import STATUS, Family, Fault, FaultCounter, FaultPlan
from scrapetrack.sandbox.persist import RunFile
from scrapetrack.sandbox.resources import dataset_json, error_json, run_json, stable_id
from scrapetrack.sandbox.state import (
    NO_LIMITS,
    Caps,
    Clock,
    SandboxError,
    SandboxLimits,
    SandboxRun,
    SandboxState,
)

# Where the embedded sandbox keeps its runs, in the data folder (var/).
SANDBOX_RUNS_FILE = "sandbox-runs.json"
MAX_WAIT_SECONDS = 60  # Apify's own cap on waitForFinish
NO_LIMIT = 999_999_999_999  # what Apify puts in X-Apify-Pagination-Limit without ?limit=
_POLL_SECONDS = 0.05
_ERROR_TYPES = {402: "actor-memory-limit-exceeded", 404: "record-not-found",
                429: "rate-limit-exceeded", 500: "internal-server-error", 502: "bad-gateway",
                503: "service-unavailable", 504: "gateway-timeout"}
# Apify's own words for these answers (its client's tests and its permissions docs).
_MEMORY_LIMIT = ("By launching this job you will exceed the memory limit of 8192MB for all your "
                 "Actor runs and builds (currently used: 8192MB, requested: 1024MB). Please "
                 "consider upgrading or purchasing extra memory as an add-on at "
                 "https://console.apify.com/billing/subscription to increase your Actor "
                 "memory limit.")
_APPROVAL = ("This Actor requires full access to your account. You must approve its "
             "permissions before running it.")
# What a proxy in front of an API sends when it fails: HTML, labelled JSON by mistake.
_MALFORMED = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n"
_NON_OBJECTS: tuple[Any, ...] = (None, "not an object", 42, ["a", "list"])


def create_sandbox_app(*, items_per_second: float = 25.0, start_delay_seconds: float = 1.5,
                       clock: Clock = time.monotonic, token: str | None = None,
                       faults: FaultPlan | str | None = None,
                       keep_runs_in: Path | None = None,
                       limits: SandboxLimits = NO_LIMITS, log_requests: bool = False) -> ASGIApp:
    """Build a sandbox with its own in-memory state.

    `items_per_second` and `start_delay_seconds` are the default pace of every run (a run's
    input may override them under `_sandbox`); `clock` drives run progress, so tests may pass
    a fake one. With `token` set, requests must carry it, like the real API; without, any or
    no token is accepted. `faults` is the sandbox-wide fault plan, or its spec (the value of
    `SANDBOX_FAULTS`); a bad spec raises `FaultSpecError` here, before anything is served.
    A sandbox others can reach is served with `limits` (see SandboxLimits) and a token.
    With `log_requests`, `state.request_log` keeps (clock time, method, path) of every request
    the API answers, also served at `GET /v2/_sandbox/requests` (for benchmarks and tests).
    """
    plan = faults if isinstance(faults, FaultPlan) else FaultPlan.parse(faults)
    if keep_runs_in is not None:
        clock = time.time  # the runs' times must mean the same after a restart
    state = SandboxState(items_per_second=items_per_second,
                         start_delay_seconds=start_delay_seconds, clock=clock, faults=plan,
                         keep=RunFile(keep_runs_in) if keep_runs_in is not None else None,
                         limits=limits, log_requests=log_requests)
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
        Route("/v2/users/me", _me, methods=["GET"]),
        *([Route("/v2/_sandbox/requests", api.request_log, methods=["GET"])]
          if log_requests else []),
    ]
    app = Starlette(routes=routes, exception_handlers={
        SandboxError: _sandbox_error, HTTPException: _http_error,  # type: ignore[dict-item]
    })
    app.state.sandbox = state  # for tests (its counters) and the UI's "sandbox" badge
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
        actor_id = actor_id.replace("/", "~")
        caps = Caps(max_items=_int_param(request, "maxItems"),
                    max_total_charge_usd=_float_param(request, "maxTotalChargeUsd"))
        plan = self.state.plan(actor_id, run_input, caps=caps)
        key = hashlib.sha256(actor_id.encode() + b"\0" + body).hexdigest()

        async def respond() -> Response:
            run = self.state.start(actor_id, run_input, input_len=len(body), plan=plan,
                                   start_key=key)
            await self._wait(run, _int_param(request, "waitForFinish") or 0)
            return JSONResponse({"data": run_json(run, self.state.clock())}, status_code=201)

        return await self._answer(request, "runs", self.state.start_faults(key, plan), respond)

    async def get_run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]

        async def respond() -> Response:
            run = self.state.run(run_id)
            await self._wait(run, _int_param(request, "waitForFinish") or 0)
            return JSONResponse({"data": run_json(run, self.state.clock())})

        return await self._answer(request, "runs", self.state.run_faults(run_id), respond)

    async def abort_run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]

        async def respond() -> Response:
            run = self.state.abort(run_id)
            return JSONResponse({"data": run_json(run, self.state.clock())})

        return await self._answer(request, "runs", self.state.run_faults(run_id), respond)

    async def get_dataset(self, request: Request) -> Response:
        dataset_id = request.path_params["dataset_id"]

        async def respond() -> Response:
            run = self.state.dataset(dataset_id)
            return JSONResponse({"data": dataset_json(run, self.state.clock())})

        return await self._answer(request, "datasets", self.state.dataset_faults(dataset_id),
                                  respond)

    async def dataset_items(self, request: Request) -> Response:
        dataset_id = request.path_params["dataset_id"]

        async def respond() -> Response:
            return await _items_response(request, self.state.dataset(dataset_id),
                                         self.state.clock())

        return await self._answer(request, "items", self.state.dataset_faults(dataset_id),
                                  respond)

    async def run_items(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]

        async def respond() -> Response:
            return await _items_response(request, self.state.run(run_id), self.state.clock())

        return await self._answer(request, "items", self.state.run_faults(run_id), respond)

    async def request_log(self, request: Request) -> Response:
        """The requests logged (`total`), from the `offset`-th on: `{at, method, path}`, `at`
        on the sandbox's clock (seconds)."""
        offset = _int_param(request, "offset") or 0
        everything = self.state.request_log or []
        log = everything[offset:]
        return JSONResponse({"data": {"total": len(everything), "offset": offset,
                                      "count": len(log), "items": [
            {"at": at, "method": method, "path": path} for at, method, path in log]}})

    async def _answer(self, request: Request, family: Family, own: FaultCounter | None,
                      respond: Callable[[], Awaitable[Response]]) -> Response:
        """`respond()`, unless the fault plans break this request: then the broken answer."""
        if self.state.request_log is not None:
            self.state.request_log.append((self.state.clock(), request.method,
                                           request.scope["path"]))
        fault = self.state.next_fault(family, own)
        if fault is None:
            return await respond()
        action = fault.rule.action
        if action == STATUS:
            return _status_answer(fault)
        if action == "reset":
            return await _reset(request)
        if action == "approval":
            return _approval_answer(request)
        if action == "slow":
            if await _client_left_within(request, fault.rule.seconds or 0):
                return _NoAnswer()  # it timed out: answering late would only log noise
            return await respond()
        return _mangle(await respond(), fault)

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


async def _items_response(request: Request, run: SandboxRun, now: float) -> Response:
    """A page of the dataset, its items made and encoded on a thread: a large page never
    holds up the other requests."""
    query = request.query_params
    if query.get("format", "json") != "json":
        raise SandboxError(400, "invalid-parameter", "The sandbox serves only format=json")
    offset = _int_param(request, "offset") or 0
    limit = _int_param(request, "limit")
    desc = _bool_param(request, "desc")
    clean = _bool_param(request, "clean")
    skip_hidden = clean or _bool_param(request, "skipHidden")
    skip_empty = clean or _bool_param(request, "skipEmpty")
    available = run.produced(now)
    stop = available if limit is None else min(available, offset + limit)

    def page() -> tuple[int, bytes]:
        if desc:  # newest first: offset counts from the end
            rows = list(reversed(run.items(0, available)))[offset:stop]
        else:
            rows = run.items(offset, stop) if offset < stop else []
        scanned = len(rows)
        if skip_hidden:
            rows = [{k: v for k, v in row.items() if not k.startswith("#")} for row in rows]
        if skip_empty:
            rows = [row for row in rows if row]
        return scanned, bytes(JSONResponse(rows).body)

    scanned, body = await asyncio.to_thread(page)
    headers = {
        # Like Apify, the total is the dataset's (lagging) itemCount, not what was just read.
        "X-Apify-Pagination-Total": str(run.item_count(now)),
        "X-Apify-Pagination-Offset": str(offset),
        "X-Apify-Pagination-Limit": str(NO_LIMIT if limit is None else limit),
        "X-Apify-Pagination-Count": str(scanned),
        "X-Apify-Pagination-Desc": "true" if desc else "false",
    }
    return Response(body, media_type="application/json", headers=headers)


def _status_answer(fault: Fault) -> Response:
    status = fault.rule.status or 500
    message = _MEMORY_LIMIT if status == 402 else \
        f"The sandbox answered {status} as its fault plan asked ({fault.describe()})"
    headers = {"Retry-After": "1"} if status == 429 else None
    return JSONResponse(error_json(_ERROR_TYPES.get(status, "server-error"), message),
                        status_code=status, headers=headers)


def _approval_answer(request: Request) -> Response:
    actor = request.path_params.get("actor_id") or "{owner}~{name}".format(
        **{k: request.path_params.get(k, "") for k in ("owner", "name")})
    url = f"https://console.apify.com/actors/{stable_id('actor', actor)}?approvePermissions=true"
    return JSONResponse(error_json("full-permission-actor-not-approved", _APPROVAL,
                                   data={"approvalUrl": url}), status_code=403)


def _mangle(response: Response, fault: Fault) -> Response:
    """The answer with its body or headers broken the way the fault says (status kept)."""
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    body = bytes(response.body)
    action = fault.rule.action
    if action == "malformed":
        body = _MALFORMED
    elif action == "truncated":  # cut inside the JSON, so no parser can take it whole
        body = body[:max(1, len(body) // 2)]
    elif action == "nonobjects":
        rows = json.loads(body)
        body = json.dumps([row if index % 2 == 0 else _NON_OBJECTS[index // 2 % 4]
                           for index, row in enumerate(rows)]).encode()
    elif action == "mismatch":  # the headers of the next page, and more rows than sent
        count = int(headers.get("x-apify-pagination-count", "0"))
        offset = int(headers.get("x-apify-pagination-offset", "0"))
        headers["x-apify-pagination-offset"] = str(offset + max(count, 1))
        headers["x-apify-pagination-count"] = str(count + 3)
    return Response(body, status_code=response.status_code, headers=headers)


class _NoAnswer(Response):
    """Sends nothing: the connection is already gone."""

    def __init__(self) -> None:
        super().__init__()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


async def _reset(request: Request) -> Response:
    """Reset the connection (TCP RST) without answering.

    ASGI has no way to drop a connection, so under uvicorn the transport is taken from the task
    serving the request. Elsewhere the request fails with an exception instead, which the server
    turns into a dropped connection or a 500.
    """
    transport = _current_transport()
    if transport is None:
        raise ConnectionResetError("sandbox fault: reset the connection")
    sock = transport.get_extra_info("socket")
    if sock is not None:  # linger 0: close with RST, not FIN
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Wait for the server to see the disconnect, or it answers 500 "without starting response".
    await _client_left_within(request, 2)
    return _NoAnswer()


async def _client_left_within(request: Request, seconds: float) -> bool:
    """Wait up to `seconds` for the client to go away; whether it did."""
    try:
        async with asyncio.timeout(seconds):
            while (await request.receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


def _current_transport() -> asyncio.Transport | None:
    """The transport of the connection being served, when uvicorn serves it (its task runs
    `RequestResponseCycle.run_asgi`, whose `self.transport` it is)."""
    task = asyncio.current_task()
    frame = getattr(task.get_coro() if task else None, "cr_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    transport = getattr(owner, "transport", None)
    return transport if callable(getattr(transport, "abort", None)) else None


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


def _float_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SandboxError(400, "invalid-parameter",
                           f"Parameter '{name}' must be a number, got '{raw}'") from None
    if not value >= 0 or value == float("inf"):
        raise SandboxError(400, "invalid-parameter", f"Parameter '{name}' must be >= 0")
    return value


def _bool_param(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in ("1", "true")


async def _me(request: Request) -> Response:
    """The account of the token, as Apify's "Get private user data" answers it (a few of its
    documented fields): what `scrapetrack doctor` asks to check a token."""
    return JSONResponse({"data": {"id": "sandboxUser0000001", "username": "sandbox",
                                  "profile": {"name": "scrapetrack sandbox"},
                                  "email": "sandbox@example.com", "isPaying": False,
                                  "createdAt": "2025-01-01T00:00:00.000Z"}})


async def _sandbox_error(request: Request, exc: SandboxError) -> Response:
    return JSONResponse(error_json(exc.type, exc.message), status_code=exc.status)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    kind = {404: "page-not-found", 405: "method-not-allowed"}.get(exc.status_code, "error")
    message = f"{exc.detail}: {request.method} {request.url.path}"
    return JSONResponse(error_json(kind, message), status_code=exc.status_code)


class _TokenCheck:
    """Answers 401 like Apify when the expected token is missing (header or ?token=)."""

    def __init__(self, app: Starlette, token: str) -> None:
        self.app, self.token = app, token
        self.state = app.state  # the sandbox's, as for an app without a token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            given_token = given or request.query_params.get("token") or ""
            if not hmac.compare_digest(given_token.encode(), self.token.encode()):
                body: dict[str, Any] = error_json(
                    "user-or-token-not-found" if given else "token-not-provided",
                    "User was not found or authentication token is not valid")
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)
