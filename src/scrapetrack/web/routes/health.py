"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: its backends do)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from scrapetrack import __version__, readiness
from scrapetrack.schemas import HealthOut, NotReadyOut, ReadyOut
from scrapetrack.web.deps import BusDep, QueueDep, StoreDep

router = APIRouter(tags=["health"])
# Sent as it is: the benchmarks measure the API against this, the cheapest answer there is.
OK = HealthOut(status="ok").model_dump_json().encode()
NOT_READY: dict[int | str, dict[str, Any]] = {503: {
    "model": NotReadyOut, "description": "A backend did not answer within "
    f"{readiness.CHECK_SECONDS:g} s; `checks` says which, and why"}}


@router.get("/healthz", response_model=HealthOut)
def healthz() -> Response:
    return Response(OK, media_type="application/json")


@router.get("/readyz", response_model=ReadyOut, responses=NOT_READY)
def readyz(store: StoreDep, queue: QueueDep, bus: BusDep) -> ReadyOut | JSONResponse:
    """Whether the store, the queue and the event bus answer now, each asked at once with a
    short timeout: the same checks as the `scrapetrack_*_up` gauges. No authentication,
    like /healthz, for a load balancer's probe."""
    found = readiness.check(store, queue, bus)
    if found.ready:
        return ReadyOut(status="ready", version=__version__, checks=found.as_dict())
    body = NotReadyOut(error=f"not ready: {found.summary()}", version=__version__,
                       checks=found.as_dict())
    return JSONResponse(body.model_dump(), status_code=503)
