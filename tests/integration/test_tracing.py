"""Traces: a search from the request that starts it to the worker that runs it, with its Apify
and store calls inside, in one trace, even across processes; and nothing of OpenTelemetry
without it (docs/tracing.md)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from scrapetrack.config import Settings
from scrapetrack.runtime import build_runtime, make_tracing
from scrapetrack.serving import bounded_heads, serve_in_thread
from scrapetrack.web.app import create_app
from tests.conftest import wait_until
from tests.integration.conftest import App, wait_for_job
from tests.integration.test_cli import SCRAPETRACK, env_for
from tests.integration.test_keyword_job import start

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Traced:
    app: App
    exporter: InMemorySpanExporter
    token: str

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        return wait_until(lambda: next(iter(self.named(name)), None), 30, f"a {name} span")


@pytest.fixture
def start_traced(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Traced]]:
    """An app (real uvicorn) whose spans go to an in-memory exporter; `worker=False` leaves
    its jobs to worker processes the test starts."""
    started: list[tuple[Any, App]] = []

    def begin(worker: bool = True, **overrides: Any) -> Traced:
        settings = make_settings(**overrides)
        exporter = InMemorySpanExporter()
        runtime = build_runtime(settings, migrate=True, embedded_worker=worker,
                                tracing=make_tracing(settings, exporter))
        server = serve_in_thread(create_app(settings, runtime=runtime, worker=worker),
                                 http=bounded_heads(settings.http_head_timeout_seconds,
                                                    settings.max_head_bytes))
        app = App(server.__enter__(), runtime)
        started.append((server, app))
        token = runtime.accounts.create_user("alice@example.com").token
        return Traced(app, exporter, token)

    yield begin
    for server, app in reversed(started):
        server.__exit__(None, None, None)
        for client in app.clients:
            client.close()
        app.runtime.close()


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """The span's parent, its parent's parent, ... as far as they were exported."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    found: list[ReadableSpan] = []
    while span.parent is not None and (parent := by_id.get(span.parent.span_id)) is not None:
        found.append(parent)
        span = parent
    return found


def traceparent(trace_id: int, span_id: int) -> str:
    """A W3C traceparent without its flags (sampled, random: the SDK's to set)."""
    return f"00-{trace_id:032x}-{span_id:016x}"


def test_a_search_is_one_trace_from_its_request_to_its_worker(
        start_traced: Callable[..., Traced]) -> None:
    traced = start_traced()
    app = traced.app
    alice = app.client(traced.token)
    job = start(alice, ["yoga"], 40)
    post = traced.one("POST /api/scraping/{platform}")
    assert post.kind is SpanKind.SERVER and post.attributes is not None
    assert post.attributes["http.route"] == "/api/scraping/{platform}"
    assert post.attributes["http.request.method"] == "POST"
    assert post.attributes["http.response.status_code"] == 202
    assert post.resource.attributes["service.name"] == "scrapetrack"

    # A campaign's stream stays open as long as the browser tab: it makes no span, open or
    # closed, however long the job runs meanwhile.
    listener = app.client(traced.token)
    with listener.stream("GET", f"/api/campaigns/{job['campaignId']}/events",
                         timeout=httpx.Timeout(30)) as stream:
        assert stream.status_code == 200
        assert any(line.startswith("data:") for line in _until_data(stream.iter_lines()))
        final, _ = wait_for_job(alice, job)
        assert final["status"] == "completed", final
        run = traced.one("job.run")
        assert not [s for s in traced.spans() if "/events" in str(
            (s.attributes or {}).get("url.path", ""))]
    assert not [s for s in traced.spans() if s.name.endswith("/events")]

    spans = traced.spans()
    # The worker's span continues the request's trace, from the traceparent on the job row.
    assert run.context is not None and post.context is not None and run.parent is not None
    assert run.context.trace_id == post.context.trace_id
    assert post in ancestors(run, spans)
    row = app.runtime.store.get_job(job["id"])
    assert row is not None
    assert row.trace_parent is not None
    assert row.trace_parent.rsplit("-", 1)[0] == traceparent(run.parent.trace_id,
                                                              run.parent.span_id)
    assert run.kind is SpanKind.CONSUMER and run.attributes is not None
    assert run.attributes["scrapetrack.job.id"] == job["id"]
    assert run.attributes["scrapetrack.job.status"] == "completed"

    # Inside the run: its Apify calls (actor and run named) and its store writes.
    for name in ("apify.start", "apify.get_run", "apify.items_page", "store.ingest",
                 "store.finish"):
        inside = [s for s in spans if s.name == name and run in ancestors(s, spans)]
        assert inside, f"no {name} span inside the job run"
    started = traced.named("apify.start")[0].attributes or {}
    assert started["apify.actor.id"] == app.runtime.settings.apify_actor_tiktok
    assert started["apify.run.id"] == row.apify_run_id
    pages = [s.attributes or {} for s in traced.named("apify.items_page")]
    assert sum(int(str(p["apify.items.count"])) for p in pages) >= 40
    # The job row was written inside the request.
    created = traced.one("store.create_job")
    assert post in ancestors(created, spans)

    # Each status poll is a request span of its own.
    polls = traced.named("GET /api/jobs/{job_id}")
    assert polls and all((p.attributes or {})["http.response.status_code"] == 200
                         for p in polls)
    # No span holds the Apify token.
    token = app.runtime.settings.apify_token
    assert token is not None
    values = [str(v) for s in traced.spans() for v in (s.attributes or {}).values()]
    assert not [v for v in values if token.get_secret_value() in v]


def _until_data(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        yield line
        if line.startswith("data:"):
            return


@dataclass
class Received:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, str]


@dataclass
class Collector:
    """An OTLP/HTTP receiver on a real port: what a process exported, decoded."""

    url: str = ""
    spans: list[Received] = field(default_factory=list)

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = next((a.value.string_value for a in resource.resource.attributes
                            if a.key == "service.name"), "")
            for scope in resource.scope_spans:
                self.spans.extend(Received(
                    service, span.name, span.trace_id.hex(), span.span_id.hex(),
                    span.parent_span_id.hex(),
                    {a.key: str(getattr(a.value, a.value.WhichOneof("value") or "string_value"))
                     for a in span.attributes}) for span in scope.spans)


@pytest.fixture
def collector() -> Iterator[Collector]:
    found = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                found.receive(body)
            self.send_response(200 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield found
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_worker_process_continues_the_trace_of_the_request(
        start_traced: Callable[..., Traced], collector: Collector) -> None:
    """The request's span is in this process, the run's in a `scrapetrack worker` that sends
    its spans over OTLP/HTTP: one trace, the run a child of the span the row names."""
    traced = start_traced(worker=False)
    alice = traced.app.client(traced.token)
    env = env_for(traced.app.runtime.settings, OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
                  OTEL_SERVICE_NAME="scrapetrack-worker", OTEL_BSP_SCHEDULE_DELAY="50")
    worker = subprocess.Popen([SCRAPETRACK, "worker", "--concurrency", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        job = start(alice, ["yoga"], 20)
        final, _ = wait_for_job(alice, job)
        assert final["status"] == "completed", final

        def run_span() -> Received | None:
            return next((s for s in collector.spans if s.name == "job.run"), None)

        run = wait_until(run_span, 30, "the worker's job.run span")
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0]
    post = traced.one("POST /api/scraping/{platform}")
    row = traced.app.runtime.store.get_job(job["id"])
    assert row is not None and row.trace_parent is not None and post.context is not None
    _, trace_id, parent_id, _ = row.trace_parent.split("-")
    assert run.service == "scrapetrack-worker", output
    assert run.trace_id == trace_id == f"{post.context.trace_id:032x}"
    assert run.parent_span_id == parent_id
    assert run.attributes["scrapetrack.job.id"] == job["id"]
    inside = {s.name for s in collector.spans if s.parent_span_id == run.span_id}
    assert {"apify.start", "apify.items_page", "store.finish"} <= inside, inside


NOTHING_IMPORTED = """
import json, sys, time
# The baseline: FastAPI (0.142 on) imports the OpenTelemetry API itself, and redis-py (7 on)
# its metrics SDK when that is installed.
import fastapi, redis
baseline = {m for m in sys.modules if m.startswith("opentelemetry")}
import httpx
from scrapetrack.config import load_settings
from scrapetrack.runtime import build_runtime
from scrapetrack.sandbox.app import create_sandbox_app
from scrapetrack.serving import serve_in_thread
from scrapetrack.web.app import create_app

tmp = sys.argv[1]
sandbox_app = create_sandbox_app(items_per_second=500.0, start_delay_seconds=0.0)
with serve_in_thread(sandbox_app, lifespan=False) as sandbox:
    settings = load_settings(_env_file=None, SCRAPETRACK_DATA_DIR=f"{tmp}/var",
                             database_url=f"sqlite:///{tmp}/app.db",
                             queue_url=f"sqlite:///{tmp}/queue.db", apify_api_url=sandbox,
                             apify_token="t", WORKER_POLL_INTERVAL_SECONDS=0.05)
    runtime = build_runtime(settings, migrate=True)
    with serve_in_thread(create_app(settings, runtime=runtime)) as url:
        token = runtime.accounts.create_user("a@example.com").token
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            campaign = c.post("/api/campaigns", json={"name": "c"}).json()
            job = c.post("/api/scraping/tiktok", json={
                "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 20}).json()
            deadline = time.monotonic() + 60
            while (status := c.get(f"/api/jobs/{job['id']}").json()["status"]) in (
                    "pending", "processing") and time.monotonic() < deadline:
                time.sleep(0.02)
    runtime.close()
added = sorted(m for m in sys.modules if m.startswith("opentelemetry") and m not in baseline)
tracing = sorted(m for m in sys.modules if m == "scrapetrack.otel"
                 or m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exporter")))
print(json.dumps({"status": status, "added": added, "tracing": tracing}))
"""


def test_without_an_endpoint_nothing_of_opentelemetry_is_imported(tmp_path: Path) -> None:
    """With the SDK installed (as here) but no OTEL_EXPORTER_OTLP_ENDPOINT, a search runs
    from request to result and scrapetrack imports no OpenTelemetry module beyond those its
    libraries import by themselves: none of the tracing SDK, no exporter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run([sys.executable, "-c", NOTHING_IMPORTED, str(tmp_path)], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"status": "completed", "added": [], "tracing": []}, done.stderr
