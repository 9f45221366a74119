"""Traces: the `Tracing` seam, off unless OpenTelemetry is asked for (docs/tracing.md).

`Tracing` itself is the off switch: each hook does nothing, and build_runtime wraps no store
or provider in it, so a deployment without OTEL_EXPORTER_OTLP_ENDPOINT imports none of the
OpenTelemetry SDK and pays one no-op call per job created and per job run.
`runtime.make_tracing` picks `scrapetrack.otel.OtelTracing` when an endpoint is set (or a test
hands in an exporter) and the SDK is installed (the `otel` extra).

A search's trace crosses processes on its job row: the request that creates the job saves its
W3C `traceparent` there (`ScrapingJob.trace_parent`), because the row is all a worker gets
(Huey and QStash carry only the job id); whichever worker runs the job starts its job-run
span as a child of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # only for annotations: the no-op path must not import OpenTelemetry
    from opentelemetry.trace import TracerProvider

AttributeValue = str | bool | int | float
Attributes = Mapping[str, AttributeValue]


class Span:
    """What a caller may do with a span it is inside; this one records nothing."""

    __slots__ = ()

    def set(self, key: str, value: AttributeValue) -> None:
        """Add an attribute."""

    def fail(self, message: str) -> None:
        """Mark the span as failed (an error status), saying why."""


NO_SPAN = Span()
_NOTHING: AbstractContextManager[Span] = nullcontext(NO_SPAN)  # reusable: no state


class Tracing:
    """No tracing: every hook does nothing. The OpenTelemetry one overrides each."""

    enabled: ClassVar[bool] = False
    # The provider FastAPI's own request spans go to (None: FastAPI makes none).
    tracer_provider: TracerProvider | None = None

    def span(self, name: str, attributes: Attributes | None = None,
             ) -> AbstractContextManager[Span]:
        """A span inside the current one; nothing outside a trace (a store call of the
        reaper or of the hub is no one's request)."""
        return _NOTHING

    def job_run(self, job_id: str, trace_parent: str | None,
                attributes: Attributes | None = None) -> AbstractContextManager[Span]:
        """The span of one worker's run of a job, the child of the request that created it
        (`trace_parent`, saved on the job row), or a trace of its own when none did."""
        return _NOTHING

    def current(self) -> Span:
        """The span the caller is inside, to add what it learnt (a job's outcome)."""
        return NO_SPAN

    def trace_parent(self) -> str | None:
        """The current span as a W3C `traceparent`, for a job row; None outside a trace."""
        return None

    def shutdown(self) -> None:
        """Send what is still buffered and stop."""


NO_TRACING = Tracing()

