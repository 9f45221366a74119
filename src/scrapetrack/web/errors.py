"""One place that turns errors into `{"error": "..."}` answers."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from scrapetrack.exceptions import (
    Conflict,
    DeliveryFailed,
    Forbidden,
    InputError,
    NotFound,
    OverBudget,
    PayloadTooLarge,
    ProviderError,
    ScrapetrackError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    UnknownPlatform,
)

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[ScrapetrackError], int], ...] = (
    (UnknownPlatform, 404), (PayloadTooLarge, 413), (InputError, 400), (Unauthorized, 401),
    (Forbidden, 403), (NotFound, 404), (Conflict, 409), (OverBudget, 402),
    (TooManyRequests, 429),
    (Unavailable, 503), (ProviderError, 502), (DeliveryFailed, 502))


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def status_for(exc: ScrapetrackError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def install(app: FastAPI) -> None:
    @app.exception_handler(ScrapetrackError)
    async def ours(_request: Request, exc: ScrapetrackError) -> JSONResponse:
        code = status_for(exc)
        response = error(code, exc.message)
        if code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(Exception)
    async def bug(_request: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the log (uvicorn prints it); the client learns nothing of it.
        return error(500, "Something went wrong on our side; it has been logged")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, describe(exc))

    @app.exception_handler(HTTPException)
    async def http(_request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        return JSONResponse({"error": message}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))


def describe(exc: RequestValidationError) -> str:
    """A sentence per problem, naming the field as the client spelled it."""
    parts = []
    for problem in exc.errors():
        where = [str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(where)
        message = str(problem.get("msg", "is invalid"))
        if problem.get("type") == "json_invalid":
            parts.append("The request body is not valid JSON")
        elif problem.get("type") == "missing":
            parts.append(f"{field} is required" if field else "A request body is required")
        else:
            parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts) or "The request is invalid"
