"""Server-Sent Events over real HTTP: job streams, campaign streams, resuming, leaving."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from functools import partial
from types import CoroutineType, FrameType
from typing import Any

import httpx
import pytest

from scrapetrack.store.models import ScrapingJob
from scrapetrack.web.sse import Stream
from tests.conftest import HeldSandbox, wait_until
from tests.integration.conftest import App, wait_for_job

pytestmark = pytest.mark.all_stacks


def sse(response: httpx.Response) -> Iterator[tuple[int, dict[str, Any]]]:
    """(id, data) of each event, as a browser's EventSource would parse them."""
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in fields:
                assert fields.get("event") == "progress"
                yield int(fields["id"]), json.loads(fields["data"])
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


def start_job(client: httpx.Client, target: int = 150,
              keywords: list[str] | None = None) -> dict[str, Any]:
    campaign = client.post("/api/campaigns", json={"name": "c"}).json()
    return dict(client.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": keywords or ["fitness"],
        "targetResults": target}).json())


def items_read(status: dict[str, Any]) -> int:
    """Items of its run a job has read: ingested or skipped."""
    return int(status["itemsRead"])


def has_read(statuses: list[dict[str, Any]], items: int) -> bool:
    """Whether one of the statuses received so far has `items` items read."""
    return any(items_read(status) == items for status in statuses)


def test_a_job_stream_carries_every_change_and_ends_after_the_terminal_status(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start_job(alice)
    ids: list[int] = []
    statuses: list[dict[str, Any]] = []
    ended = threading.Event()

    def watch() -> None:
        with alice.stream("GET", f"/api/jobs/{job['id']}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-accel-buffering"] == "no"
            assert response.headers["cache-control"].startswith("no-cache")
            for event_id, data in sse(response):  # ends only because the server ends it
                ids.append(event_id)
                statuses.append(data)
        ended.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # The run held at three points: each time the stream brings the state it holds there.
    run = held_sandbox.run(1)
    for items in (40, 80, 120):
        held_sandbox.write(run, items)
        wait_until(partial(has_read, statuses, items), 30,
                   f"an event with {items} items read")
    held_sandbox.finish(run)
    assert ended.wait(60), "the stream did not end after the terminal status"
    assert ids == sorted(set(ids))
    assert statuses[-1]["status"] == "completed"
    assert statuses[-1]["progress"] == 100
    assert statuses[-1]["version"] == ids[-1]
    progress = [s["progress"] for s in statuses]
    assert progress == sorted(progress)
    held = [s["progress"] for s in statuses if items_read(s) in (40, 80, 120)
            and s["status"] == "processing"]
    assert len(set(held)) == 3 and all(0 < p < 100 for p in held), held
    assert all(set(s) >= {"id", "status", "progress", "processedResults", "targetResults",
                          "error", "ratePerSecond", "etaSeconds"} for s in statuses)
    assert any(s["ratePerSecond"] for s in statuses if s["status"] == "processing")


def test_last_event_id_resumes_without_stale_or_repeated_events(app: App) -> None:
    alice = app.user("alice@example.com")
    job = start_job(alice, target=40)
    final, _ = wait_for_job(alice, job)
    path = f"/api/jobs/{job['id']}/events"
    with alice.stream("GET", path, headers={"Last-Event-ID": str(final["version"])}) as r:
        assert list(sse(r)) == []  # nothing newer exists, and the job has ended
    with alice.stream("GET", path, headers={"Last-Event-ID": "1"}) as r:
        resumed = list(sse(r))
    assert [(i, d["status"]) for i, d in resumed] == [(final["version"], "completed")]
    with alice.stream("GET", path, params={"lastEventId": "2"}) as r:
        assert [d["status"] for _, d in sse(r)] == ["completed"]


def test_a_campaign_stream_shows_jobs_started_elsewhere(app: App) -> None:
    alice = app.user("alice@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "c"}).json()

    def start() -> str:
        return str(alice.post("/api/scraping/tiktok", json={
            "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 30}).json()["id"])

    seen: dict[str, str] = {}
    ids: list[int] = []
    with alice.stream("GET", f"/api/campaigns/{campaign['id']}/events") as response:
        started = [start()]  # after connecting: the stream must bring it by itself
        for event_id, data in sse(response):
            ids.append(event_id)
            seen[data["id"]] = data["status"]
            if all(seen.get(j) == "completed" for j in started):
                if len(started) == 2:
                    break
                started.append(start())
    assert ids == sorted(set(ids))
    assert set(seen) == set(started)


def test_streams_are_private_and_need_credentials(app: App) -> None:
    alice, bob = app.user("alice@example.com"), app.user("bob@example.com")
    job = start_job(alice, target=10)
    for path in (f"/api/jobs/{job['id']}/events", f"/api/campaigns/{job['campaignId']}/events"):
        assert bob.get(path).status_code == 404
        assert bob.get(path).json() == {"error": bob.get(
            path.replace(job["id"], "0" * 36).replace(job["campaignId"], "0" * 36)).json()[
            "error"]}
        assert app.client().get(path).status_code == 401


def test_a_client_that_leaves_frees_its_watcher(start_app: Callable[..., App]) -> None:
    app = start_app()
    alice = app.user("alice@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "c"}).json()
    hub = app.runtime.hub
    with alice.stream("GET", f"/api/campaigns/{campaign['id']}/events") as response:
        lines = response.iter_lines()  # kept: a dropped iterator closes the connection
        assert next(lines) == "retry: 2000"
        wait_until(lambda: hub.watchers == 1, what="the stream's watcher")
    wait_until(lambda: hub.watchers == 0, what="the watcher to go with its client")


def test_an_open_stream_holds_nothing_of_the_request_stack(app: App) -> None:
    """Once its headers are out, a stream runs outside the routing, the middleware and the
    route's dependencies: none of their frames, nor the route's database row, lives as long
    as the connection."""
    alice = app.user("alice@example.com")
    job = start_job(alice, target=10)  # its row is in the campaign's snapshot
    hub = app.runtime.hub
    loop = hub._loop  # the server's loop: its tasks are inspected there, not from this thread
    assert loop is not None

    async def stream_frames() -> list[FrameType]:
        """The frames of the task that serves the stream (one of them holds its response)."""
        for task in asyncio.all_tasks():
            frames: list[FrameType] = []
            coro: Any = task.get_coro()
            while isinstance(coro, CoroutineType) and coro.cr_frame is not None:
                frames.append(coro.cr_frame)  # down the chain of awaits
                coro = coro.cr_await
            if any(isinstance(f.f_locals.get("self"), Stream) for f in frames):
                return frames
        return []

    # A campaign stream: it lasts until the client leaves.
    with alice.stream("GET", f"/api/campaigns/{job['campaignId']}/events") as response:
        lines = response.iter_lines()  # kept: a dropped iterator closes the connection
        assert next(lines) == "retry: 2000"
        wait_until(lambda: hub.watchers == 1, what="the stream's watcher")
        frames = asyncio.run_coroutine_threadsafe(stream_frames(), loop).result(timeout=10)
        assert frames, "no task runs the stream"
        files = [f.f_code.co_filename for f in frames]
        assert not [f for f in files if "/fastapi/" in f or "/starlette/" in f], files
        held = [value for f in frames for value in f.f_locals.values()]
        assert not [v for v in held if isinstance(v, ScrapingJob)]
        del frames, held
