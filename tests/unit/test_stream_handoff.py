"""An event stream's response hands its stream to the outermost layer: when the request stack
fails after the handoff, the stream never runs and gives its slot back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from typing import Any, cast

import pytest
from fastapi import Depends

from scrapetrack.events.hub import Hub, Watcher
from scrapetrack.events.slots import LocalSlots
from scrapetrack.web.sse import RETRY, EventStream, Stream, StreamingApp
from tests.conftest import run_async


class TeardownFailed(Exception):
    pass


def failing_teardown() -> Iterator[None]:
    yield
    raise TeardownFailed


def test_a_stream_whose_request_stack_fails_after_the_handoff_gives_back_its_slot() -> None:
    slots = LocalSlots(limit=1)
    app = StreamingApp()
    never_used = cast(Hub, object())  # the stream must not run, so it never reaches the hub

    @app.get("/events", dependencies=[Depends(failing_teardown)])
    def events() -> EventStream:
        return EventStream(Stream(never_used, lambda hub, watcher: None, (), slot=(slots, "alice")))

    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never speaks: only the server ends this
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/events", "raw_path": b"/events",
             "root_path": "", "query_string": b"", "headers": [],
             "server": ("test", 80), "client": ("test", 1)}
    async def request() -> None:
        await app(scope, receive, send)

    with pytest.raises(TeardownFailed):
        run_async(request)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert slots.open == {}, "the slot of a stream that never ran is still held"
    assert set(scope) == {"type", "asgi", "http_version", "method", "scheme", "path",
                          "raw_path", "root_path", "query_string", "headers", "server",
                          "client"}, "the request stack wrote into the server's scope"


async def round_trip() -> None:
    """I/O that spans several turns of the loop, as a request to Redis does."""
    await asyncio.to_thread(lambda: None)


@pytest.mark.parametrize("first", ["client leaves", "stream ends"])
def test_a_stream_ending_as_its_client_leaves_cancels_nothing_after_it(first: str) -> None:
    """The stream's end interrupts the wait on the client; when both come in one turn of the
    loop, in either order, what the stream does next (end the body, give back its slot) is
    not cancelled."""

    class RemoteSlots(LocalSlots):
        async def give_back(self, user_id: str, ticket: str) -> None:
            await round_trip()
            await super().give_back(user_id, ticket)

    slots = RemoteSlots(limit=1)
    sent: list[bytes] = []

    class Unwatched:
        def unwatch(self, watcher: Watcher) -> None:
            pass

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        left = asyncio.Event()
        registered: list[Watcher] = []
        waiting = asyncio.Event()

        def register(hub: Hub, watcher: Watcher) -> None:
            registered.append(watcher)
            waiting.set()  # the stream goes on to wait on its client in this same step

        async def receive() -> dict[str, Any]:
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            if not message.get("more_body", False):
                await round_trip()  # what follows the wait takes turns of its own
            sent.append(message["body"])

        stream = Stream(cast(Hub, Unwatched()), register, (), slot=(slots, "alice"))
        stream.ticket = await slots.take("alice")
        task = asyncio.create_task(stream.run(receive, send))
        await waiting.wait()

        def both() -> None:  # one turn: both wake-ups are queued before either runs
            if first == "client leaves":
                left.set()
                registered[0].close()
            else:
                registered[0].close()
                left.set()

        loop.call_soon(both)
        await task

    run_async(scenario)
    assert slots.open == {}, "the slot was not given back"
    assert sent[0] == RETRY
    if first == "stream ends":
        assert sent[-1] == b"", "the stream ended without ending its body"
