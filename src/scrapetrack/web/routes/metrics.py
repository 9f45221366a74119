"""Prometheus metrics: every process's counters, and the store's truth read at scrape time."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from scrapetrack.metrics import StoreCollector, render
from scrapetrack.web.deps import get_runtime

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "Prometheus text format (see docs/metrics.md for each metric)",
    "content": {"text/plain": {"example": "# HELP scrapetrack_jobs Jobs by status\n"
                                          "# TYPE scrapetrack_jobs gauge\n"
                                          'scrapetrack_jobs{status="completed"} 12.0\n'}}}})
def metrics(request: Request) -> Response:
    """Unauthenticated, like /healthz: keep it inside your network or behind the proxy."""
    runtime = get_runtime(request)
    registry = getattr(request.app.state, "metrics_registry", None)
    if registry is None:  # built once per app: the collectors read fresh values per scrape
        registry = runtime.metrics.scrape_registry(StoreCollector(runtime.store, runtime.queue))
        request.app.state.metrics_registry = registry
    return Response(render(registry), media_type=CONTENT_TYPE_LATEST)
