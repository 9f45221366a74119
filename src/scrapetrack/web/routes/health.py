"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter, Response

from scrapetrack.schemas import HealthOut

router = APIRouter(tags=["health"])
# Sent as it is: the benchmarks measure the API against this, the cheapest answer there is.
OK = HealthOut(status="ok").model_dump_json().encode()


@router.get("/healthz", response_model=HealthOut)
def healthz() -> Response:
    return Response(OK, media_type="application/json")
