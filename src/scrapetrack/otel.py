"""`Tracing` on the OpenTelemetry SDK: imported by `make_tracing` only once it is chosen.

Spans go to this deployment's own TracerProvider, never the global one: FastAPI's request spans
are pointed at it (web/request_spans.py), and a test can build two apps with two exporters in
one process. The SDK reads the standard OTEL_* variables itself (headers, sampler, batch
sizes, resource attributes).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from scrapetrack import __version__
from scrapetrack.tracing import NO_SPAN, Attributes, AttributeValue, Span, Tracing

TRACEPARENT = "traceparent"
_OUTSIDE: AbstractContextManager[Span] = nullcontext(NO_SPAN)


class _Span(Span):
    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def set(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, value)

    def fail(self, message: str) -> None:
        self._span.set_status(StatusCode.ERROR, message)


class OtelTracing(Tracing):
    enabled = True

    def __init__(self, service_name: str, *, endpoint: str | None = None,
                 exporter: SpanExporter | None = None) -> None:
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Batched on the SDK's own thread: a request or a page never waits on the collector.
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        else:  # a test's exporter sees each span as it ends
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        self._provider = provider
        self.tracer_provider = provider
        self._tracer = provider.get_tracer("scrapetrack", __version__)
        self._propagator = TraceContextTextMapPropagator()

    def span(self, name: str, attributes: Attributes | None = None,
             ) -> AbstractContextManager[Span]:
        if not trace.get_current_span().is_recording():
            return _OUTSIDE
        return self._span(name, attributes)

    @contextmanager
    def _span(self, name: str, attributes: Attributes | None) -> Iterator[Span]:
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield _Span(span)

    @contextmanager
    def job_run(self, job_id: str, trace_parent: str | None,
                attributes: Attributes | None = None) -> Iterator[Span]:
        parent = None
        links: list[Link] = []
        if trace_parent:
            parent = self._propagator.extract({TRACEPARENT: trace_parent})
            # Run inside another request (a QStash delivery): that request is linked.
            here = trace.get_current_span().get_span_context()
            if here.is_valid:
                links.append(Link(here))
        with self._tracer.start_as_current_span(
                "job.run", context=parent, kind=SpanKind.CONSUMER, links=links,
                attributes={"scrapetrack.job.id": job_id, **(attributes or {})}) as span:
            yield _Span(span)

    def current(self) -> Span:
        span = trace.get_current_span()
        return _Span(span) if span.is_recording() else NO_SPAN

    def trace_parent(self) -> str | None:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        return carrier.get(TRACEPARENT)

    def shutdown(self) -> None:
        self._provider.shutdown()
