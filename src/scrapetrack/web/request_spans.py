"""Request spans: FastAPI's own OpenTelemetry support, pointed at our `Tracing`.

FastAPI (0.142 on) makes one server span per request, named by method and route template,
with the status code, and spans for dependencies, the endpoint and serialisation inside it;
it reads W3C `traceparent` from a caller's headers. A maintained part, so no middleware of
ours. Configured from our settings alone: with tracing off FastAPI makes nothing (not even
through a global provider someone else set up), and it never builds exporters of its own.

Left out: event streams, which last as long as a browser tab (their requests end at the
hand-off in web/sse.py, which FastAPI would report as an incomplete response); the embedded
sandbox, which stands in for Apify and is no part of this service; and probes and scrapes,
which would bury the searches.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi.telemetry import TelemetryConfig

from scrapetrack.tracing import Tracing

UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})


def untraced(scope: MutableMapping[str, Any]) -> bool:
    path: str = scope.get("path", "")
    return (path in UNTRACED or path == "/sandbox" or path.startswith("/sandbox/")
            or (path.startswith("/api/") and path.endswith("/events")))


def telemetry(tracing: Tracing) -> TelemetryConfig:
    """FastAPI's `telemetry=` for this deployment's tracing."""
    return {"tracing": tracing.enabled, "tracer_provider": tracing.tracer_provider,
            "metrics": False,  # Prometheus counts requests (metrics.py)
            "logs": False,  # our logs say what failed (logs.py)
            "auto_configure": False, "exclude": untraced}
