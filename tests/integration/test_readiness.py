"""`/readyz` against real backends: ready on the embedded default and on PostgreSQL + Redis,
503 naming the backend that is down (refused, or silent), within a few seconds, and the
`scrapetrack_*_up` gauges of `/metrics` saying the same."""

from __future__ import annotations

import platform
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from scrapetrack import __version__
from scrapetrack.config import Settings
from scrapetrack.readiness import CHECK_SECONDS
from scrapetrack.runtime import build_runtime
from scrapetrack.serving import serve_in_thread
from scrapetrack.web.app import create_app
from tests.conftest import free_port, wait_until
from tests.integration.conftest import App
from tests.integration.test_metrics import scrape, value

# What proves the checks' own deadline is the answer's words ("no answer within 2 s", not a
# driver's timeout); this bound only catches a request that hangs, loose for a busy machine.
ANSWER_SECONDS = 10.0


def test_ready_with_every_backend_up(app: App) -> None:
    """Ran on SQLite (in-process bus) and on PostgreSQL + Redis (Redis bus and queue)."""
    answer = httpx.get(f"{app.url}/readyz", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": "ready", "version": __version__,
                             "checks": {"store": "ok", "queue": "ok", "bus": "ok"}}
    samples = scrape(app.url)
    for name in ("store", "queue", "bus"):
        assert value(samples, f"scrapetrack_{name}_up") == 1, name
    python = platform.python_version()
    assert value(samples, "scrapetrack_build_info", version=__version__, python=python) == 1
    assert [key for key in samples if key[0] == "scrapetrack_build_info"] == \
        [("scrapetrack_build_info", (("python", python), ("version", __version__)))]


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    """The app over a runtime built here, with no worker (its queue may be down)."""
    runtime = build_runtime(settings, migrate=settings.database_url.startswith("sqlite"),
                            embedded_worker=False)
    try:
        with serve_in_thread(create_app(settings, runtime=runtime, worker=False)) as url:
            yield url
        # A check given up on still waits for its driver's own timeout: closing the runtime
        # under it would leave its retry's socket to the garbage collector, in a later test.
        wait_until(lambda: not any(t.name.startswith("ready-") for t in threading.enumerate())
                   or None, 60, "the checks given up on to end")
    finally:
        runtime.close()


def ready(url: str) -> tuple[httpx.Response, float]:
    began = time.monotonic()
    answer = httpx.get(f"{url}/readyz", timeout=30)
    return answer, time.monotonic() - began


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_refused_queue_and_bus_are_named(make_settings: Callable[..., Settings]) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with served(make_settings(queue_url=closed, redis_url=closed)) as url:
        answer, took = ready(url)
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["error"] == "not ready: queue and bus down"
        assert body["version"] == __version__
        assert body["checks"]["store"] == "ok"
        for name in ("queue", "bus"):
            assert body["checks"][name].startswith("down: "), body
            assert "refused" in body["checks"][name].lower(), body
        assert took < ANSWER_SECONDS, took
        samples = scrape(url)  # the gauges ask the same questions
        assert (value(samples, "scrapetrack_store_up"), value(samples, "scrapetrack_queue_up"),
                value(samples, "scrapetrack_bus_up")) == (1, 0, 0)
        assert ("scrapetrack_jobs", (("status", "pending"),)) in samples  # the store's, kept
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200  # still alive


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_refused_database_is_named(make_settings: Callable[..., Settings]) -> None:
    """PostgreSQL on a port where nothing listens: the store, and the bus it carries."""
    database = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/scrapetrack"
    with served(make_settings(database_url=database)) as url:
        answer, took = ready(url)
        assert answer.status_code == 503, answer.text
        body = answer.json()
        assert body["error"] == "not ready: store and bus down"
        assert body["checks"]["queue"] == "ok"
        assert body["checks"]["store"].startswith("down: The database is unavailable"), body
        assert took < ANSWER_SECONDS, took
        samples = scrape(url)
        assert value(samples, "scrapetrack_store_up") == 0
        assert value(samples, "scrapetrack_queue_up") == 1
        assert not any(name == "scrapetrack_jobs" for name, _ in samples)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a host gone quiet."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_silent_bus_is_down_within_the_deadline(make_settings: Callable[..., Settings],
                                                  silent_port: int) -> None:
    with served(make_settings(redis_url=f"redis://127.0.0.1:{silent_port}/0")) as url:
        answer, took = ready(url)
        assert answer.status_code == 503, answer.text
        checks: dict[str, Any] = answer.json()["checks"]
        assert checks == {"store": "ok", "queue": "ok",
                          "bus": f"down: no answer within {CHECK_SECONDS:g} s"}
        assert CHECK_SECONDS - 0.1 < took < ANSWER_SECONDS, took


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_readyz_is_documented(app: App) -> None:
    spec = httpx.get(f"{app.url}/openapi.json", timeout=10).json()
    assert spec["info"]["version"] == __version__
    responses = spec["paths"]["/readyz"]["get"]["responses"]
    assert responses["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ReadyOut")
    assert responses["503"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/NotReadyOut")
    assert "security" not in spec["paths"]["/readyz"]["get"]
