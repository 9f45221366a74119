"""Prometheus metrics: every process's counters, and the store's truth read at scrape time."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from scrapetrack.exceptions import Unauthorized
from scrapetrack.metrics import StoreCollector, render
from scrapetrack.web.deps import (
    BusDep,
    MetricsDep,
    QueueDep,
    SettingsDep,
    StoreDep,
    bearer_token,
)

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "Prometheus text format (see docs/metrics.md for each metric)",
    "content": {"text/plain": {"example": "# HELP scrapetrack_jobs Jobs by status\n"
                                          "# TYPE scrapetrack_jobs gauge\n"
                                          'scrapetrack_jobs{status="completed"} 12.0\n'}}}})
def metrics(request: Request, settings: SettingsDep, counters: MetricsDep, store: StoreDep,
            queue: QueueDep, bus: BusDep) -> Response:
    """Unauthenticated by default, like /healthz, for scrapers on a private network; with
    METRICS_TOKEN set, only `Authorization: Bearer METRICS_TOKEN` reads it."""
    expected = settings.metrics_token
    if expected is not None:
        given = bearer_token(request) or ""
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise Unauthorized("Metrics need their token")
    registry = getattr(request.app.state, "metrics_registry", None)
    if registry is None:  # built once per app: the collectors read fresh values per scrape
        registry = counters.scrape_registry(StoreCollector(store, queue, bus))
        request.app.state.metrics_registry = registry
    return Response(render(registry), media_type=CONTENT_TYPE_LATEST)
