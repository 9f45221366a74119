"""The tracing seam: which one settings choose, and how spans nest and link (docs/tracing.md)."""

from __future__ import annotations

import logging
import sys

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from scrapetrack.config import Settings, load_settings
from scrapetrack.otel import OtelTracing
from scrapetrack.runtime import make_tracing
from scrapetrack.tracing import NO_SPAN, NO_TRACING
from scrapetrack.web.request_spans import untraced


def settings(**values: str) -> Settings:
    return load_settings(_env_file=None, **values)


def test_the_endpoint_is_the_traces_one_or_v1_traces_of_the_general_one() -> None:
    assert settings().otlp_traces_endpoint() is None
    assert settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318/"
                    ).otlp_traces_endpoint() == "http://collector:4318/v1/traces"
    assert settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318",
                    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://other:4318/traces"
                    ).otlp_traces_endpoint() == "http://other:4318/traces"
    assert settings().otel_service_name == "scrapetrack"


def test_without_an_endpoint_tracing_is_off_and_its_hooks_do_nothing() -> None:
    tracing = make_tracing(settings())
    assert tracing is NO_TRACING and not tracing.enabled and tracing.tracer_provider is None
    for _ in range(2):  # the same context manager serves every call
        with tracing.job_run("j", "00-" + "1" * 32 + "-" + "2" * 16 + "-01") as span:
            assert span is NO_SPAN
            with tracing.span("store.ingest", {"a": 1}) as inner:
                inner.set("b", 2)
                inner.fail("no")
    assert tracing.trace_parent() is None and tracing.current() is NO_SPAN


def test_with_an_endpoint_tracing_is_opentelemetry() -> None:
    tracing = make_tracing(settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9"))
    try:
        assert isinstance(tracing, OtelTracing) and tracing.tracer_provider is not None
    finally:
        tracing.shutdown()


def test_an_endpoint_without_the_sdk_warns_and_traces_nothing(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "scrapetrack.otel", None)  # as if not installed
    with caplog.at_level(logging.WARNING, "scrapetrack.runtime"):
        tracing = make_tracing(settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4318"))
    assert tracing is NO_TRACING
    assert "pip install 'scrapetrack[otel]'" in caplog.text


def test_a_job_run_is_the_child_of_the_request_its_row_names() -> None:
    exporter = InMemorySpanExporter()
    tracing = OtelTracing("test", exporter=exporter)
    with tracing.span("store.heartbeat"):  # outside any trace: no span
        pass
    assert exporter.get_finished_spans() == ()
    with tracing.job_run("request", None):
        parent = tracing.trace_parent()
    assert parent is not None
    with tracing.job_run("job", parent, {"scrapetrack.job.kind": "keyword"}):
        with tracing.span("apify.start", {"apify.actor.id": "a~b"}) as span:
            span.set("apify.run.id", "r")
        tracing.current().fail("The run failed")
    request, start, run = exporter.get_finished_spans()
    assert request.context is not None and run.context is not None
    assert run.parent is not None and run.parent.span_id == request.context.span_id
    assert run.context.trace_id == request.context.trace_id and not run.links
    assert start.parent is not None and start.parent.span_id == run.context.span_id
    assert dict(start.attributes or {}) == {"apify.actor.id": "a~b", "apify.run.id": "r"}
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "The run failed"
    tracing.shutdown()


def test_a_job_run_inside_another_request_links_to_it() -> None:
    """A QStash delivery runs the job inside its own request: the run stays the child of the
    request that created the job and links to the delivery."""
    exporter = InMemorySpanExporter()
    tracing = OtelTracing("test", exporter=exporter)
    with tracing.job_run("created", None):
        parent = tracing.trace_parent()
    with tracing.job_run("delivery", None), tracing.job_run("job", parent):
        pass
    created, run, delivery = exporter.get_finished_spans()
    assert run.parent is not None and created.context is not None
    assert run.parent.span_id == created.context.span_id
    assert [link.context.span_id for link in run.links] == [
        delivery.context.span_id if delivery.context else None]
    tracing.shutdown()


@pytest.mark.parametrize(("path", "traced"), [
    ("/api/scraping/tiktok", True), ("/api/jobs/abc", True), ("/campaigns/abc", True),
    ("/api/jobs/abc/events", False), ("/api/campaigns/abc/events", False),
    ("/sandbox/v2/acts/x/runs", False), ("/sandbox", False), ("/sandboxes", True),
    ("/healthz", False), ("/metrics", False)])
def test_streams_the_sandbox_and_probes_make_no_request_span(path: str, traced: bool) -> None:
    assert untraced({"type": "http", "path": path}) is not traced
