"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter

from scrapetrack.schemas import HealthOut

router = APIRouter(tags=["health"])
OK = HealthOut(status="ok")


@router.get("/healthz")
def healthz() -> HealthOut:
    return OK
