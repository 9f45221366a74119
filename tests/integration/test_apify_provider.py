"""ApifyProvider against the sandbox: the real apify-client over real HTTP.

Runs are paced through the hidden `_sandbox` input so each test takes well under a second or
two; every wait is a loop with a deadline, never a sleep that hopes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from scrapetrack.config import Settings
from scrapetrack.exceptions import ProviderRejected, ProviderUnavailable, RunNotFound
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import RunInfo, RunStatus
from scrapetrack.providers.platforms import get_platform
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.serving import serve_in_thread
from tests.conftest import HeldSandbox, wait_until

ACTOR = "apidojo~tiktok-scraper"
T = TypeVar("T")


def tiktok_input(*keywords: str, max_items: int = 40, **sandbox: Any) -> dict[str, Any]:
    run_input = get_platform("tiktok").build_keyword_input(list(keywords), max_items,
                                                           Settings())
    return {**run_input, "_sandbox": {"startDelaySeconds": 0, "itemsPerSecond": 200, **sandbox}}


@pytest.fixture
def provider(sandbox_url: str, provider_class: type[ApifyProvider]) -> Iterator[ApifyProvider]:
    provider = provider_class(None, sandbox_url, max_retries=1,
                             min_delay_between_retries=timedelta(milliseconds=10))
    yield provider
    provider.close()


def finish(provider: ApifyProvider, run: RunInfo) -> RunInfo:
    def finished() -> RunInfo | None:
        info = provider.get_run(run.run_id, wait_seconds=2)
        return info if info.status.finished else None

    return wait_until(finished, what="the run to finish")


def drain(provider: ApifyProvider, dataset_id: str, page_size: int = 25) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = provider.items_page(dataset_id, len(items), page_size)
        items += page.items
        if len(page.items) < page_size:
            return items


def test_items_grow_page_by_page_while_running_then_drain(
        held_provider: ApifyProvider, held_sandbox: HeldSandbox) -> None:
    provider = held_provider
    run = provider.start(ACTOR, tiktok_input("yoga", max_items=60))
    assert run.status in (RunStatus.READY, RunStatus.RUNNING) and run.dataset_id
    items: list[dict[str, Any]] = []
    # The run held at 10, 20 and 30 items: each look finds the next page, the run running.
    for written in (10, 20, 30):
        held_sandbox.write(run.run_id, written)
        assert provider.get_run(run.run_id).status == RunStatus.RUNNING
        page = provider.items_page(run.dataset_id, len(items), 10)
        assert page.offset == len(items)
        assert page.total >= page.offset + len(page.items)
        items.extend(page.items)
        assert len(items) == written
        assert provider.items_page(run.dataset_id, len(items), 10).items == []
    held_sandbox.finish(run.run_id)
    assert provider.get_run(run.run_id).status == RunStatus.SUCCEEDED
    items += drain(provider, run.dataset_id, 10)[len(items):]
    assert len(items) == 60
    assert len({item.get("id") for item in items}) == 60


def test_wait_seconds_is_held_by_the_server(held_provider: ApifyProvider,
                                            held_sandbox: HeldSandbox) -> None:
    provider = held_provider
    # A run that ends while the request waits: the answer comes with the end, not at the
    # end of the 60 s asked for.
    ending = provider.start(ACTOR, tiktok_input("yoga", max_items=20))
    answers: list[RunInfo] = []
    waiting = threading.Thread(target=lambda: answers.append(
        provider.get_run(ending.run_id, wait_seconds=60)))
    waiting.start()
    held_sandbox.finish(ending.run_id)
    waiting.join(timeout=45)
    assert [a.status for a in answers] == [RunStatus.SUCCEEDED]
    # A run that does not end: the server holds the request for the seconds asked for.
    held = provider.start(ACTOR, tiktok_input("yoga", max_items=100))
    started = time.monotonic()
    assert provider.get_run(held.run_id, wait_seconds=1).status == RunStatus.RUNNING
    assert time.monotonic() - started >= 0.9


def test_sandbox_answers_apify_headers_and_a_lagging_item_count(
        held_provider: ApifyProvider, held_sandbox: HeldSandbox) -> None:
    """What apify-client reads from the sandbox's HTTP answers, checked on the wire."""
    run = held_provider.start(ACTOR, tiktok_input("yoga", max_items=30, itemsPerSecond=300,
                                                  itemCountLagSeconds=1.0))
    held_sandbox.write(run.run_id, 30)  # the last item written a moment ago: the run ended
    assert held_provider.get_run(run.run_id).status == RunStatus.SUCCEEDED
    with httpx.Client(base_url=f"{held_sandbox.url}/v2") as http:
        info = http.get(f"/datasets/{run.dataset_id}").json()["data"]
        assert info["itemCount"] < 30  # as of a second ago, like Apify's
        answer = http.get(f"/datasets/{run.dataset_id}/items",
                          params={"offset": 5, "limit": 10, "format": "json"})
        assert answer.status_code == 200
        assert len(answer.json()) == 10  # the items exist even though the count lags
        headers = answer.headers
        assert int(headers["X-Apify-Pagination-Total"]) <= 30
        assert (headers["X-Apify-Pagination-Offset"], headers["X-Apify-Pagination-Limit"],
                headers["X-Apify-Pagination-Count"], headers["X-Apify-Pagination-Desc"]) == (
                    "5", "10", "10", "false")
        held_sandbox.finish(run.run_id)  # a second later, the count has caught up
        assert http.get(f"/datasets/{run.dataset_id}").json()["data"]["itemCount"] == 30
        forward = http.get(f"/datasets/{run.dataset_id}/items").json()
        backward = http.get(f"/datasets/{run.dataset_id}/items", params={"desc": "true"})
        assert backward.json() == forward[::-1]
        assert backward.headers["X-Apify-Pagination-Total"] == "30"
        missing = http.get("/datasets/noSuchDataset0000/items")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "record-not-found"


def test_abort_stops_the_items(provider: ApifyProvider) -> None:
    run = provider.start(ACTOR, tiktok_input("yoga", max_items=1000, itemsPerSecond=50))
    wait_until(lambda: len(provider.items_page(run.dataset_id, 0, 1000).items) >= 5,
               what="some items")
    provider.abort(run.run_id)
    assert provider.get_run(run.run_id).status in (RunStatus.ABORTING, RunStatus.ABORTED)
    aborted = finish(provider, run)
    assert aborted.status == RunStatus.ABORTED
    assert aborted.status_message and "Aborted" in aborted.status_message
    count = len(drain(provider, run.dataset_id))
    # A run started now at the same pace: once it has 15 items, a live run would have more.
    control = provider.start(ACTOR, tiktok_input("yoga", max_items=1000, itemsPerSecond=50))
    wait_until(lambda: len(provider.items_page(control.dataset_id, 0, 1000).items) >= 15,
               what="the control run's items")
    provider.abort(control.run_id)
    assert len(drain(provider, run.dataset_id)) == count < 1000
    provider.abort(run.run_id)  # again: harmless
    assert provider.get_run(run.run_id).status == RunStatus.ABORTED


def test_abort_is_harmless_on_finished_and_unknown_runs(provider: ApifyProvider) -> None:
    run = provider.start(ACTOR, tiktok_input("yoga", max_items=5))
    assert finish(provider, run).status == RunStatus.SUCCEEDED
    provider.abort(run.run_id)
    assert provider.get_run(run.run_id).status == RunStatus.SUCCEEDED
    provider.abort("noSuchRun00000000")


@pytest.mark.parametrize("outcome", [RunStatus.FAILED, RunStatus.TIMED_OUT])
def test_failing_outcomes_carry_the_status_message(provider: ApifyProvider,
                                                   outcome: RunStatus) -> None:
    run = provider.start(ACTOR, tiktok_input(
        "yoga", max_items=40, outcome=outcome.value, failAfterItems=7,
        statusMessage="Blocked by TikTok (HTTP 403) after 3 retries"))
    ended = finish(provider, run)
    assert ended.status == outcome
    assert ended.status_message == "Blocked by TikTok (HTTP 403) after 3 retries"
    assert len(drain(provider, run.dataset_id)) == 7


def test_unknown_run_or_dataset_is_run_not_found(provider: ApifyProvider) -> None:
    for wait in (0, 0.3):
        with pytest.raises(RunNotFound, match="noSuchRun00000000"):
            provider.get_run("noSuchRun00000000", wait_seconds=wait)
    with pytest.raises(RunNotFound, match="noSuchDataset0000"):
        provider.items_page("noSuchDataset0000", 0, 10)


def test_unknown_actor_and_bad_input_are_rejected(provider: ApifyProvider) -> None:
    with pytest.raises(ProviderRejected, match=r"no-such-actor.*HTTP 404"):
        provider.start("nobody~no-such-actor", {"maxItems": 5})
    with pytest.raises(ProviderRejected, match=r"HTTP 400 invalid-input.*maxItems"):
        provider.start(ACTOR, {"maxItems": 0})
    with pytest.raises(ProviderRejected, match="outcome"):
        provider.start(ACTOR, {"_sandbox": {"outcome": "EXPLODED"}})


def test_a_wrong_token_is_rejected_without_showing_it(
        provider_class: type[ApifyProvider]) -> None:
    with serve_in_thread(create_sandbox_app(token="right-token")) as url:
        wrong = provider_class("wrong-token-xyz", url, max_retries=0)
        with pytest.raises(ProviderRejected, match="HTTP 401") as caught:
            wrong.start(ACTOR, tiktok_input("yoga"))
        assert "wrong-token-xyz" not in str(caught.value)
        # Nothing of apify-client's rides along, not even as a chained exception.
        assert caught.value.__cause__ is None and caught.value.__context__ is None
        right = provider_class("right-token", url, max_retries=0)
        assert right.start(ACTOR, tiktok_input("yoga")).run_id
        wrong.close()
        right.close()


def test_an_unreachable_api_is_unavailable(provider_class: type[ApifyProvider]) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = provider_class("secret-token-abc", f"http://127.0.0.1:{port}", max_retries=1,
                              min_delay_between_retries=timedelta(milliseconds=10))
    started = time.monotonic()
    calls: list[Callable[[], object]] = [
        lambda: provider.start(ACTOR, {}), lambda: provider.get_run("someRun"),
        lambda: provider.items_page("someDataset", 0, 10), lambda: provider.abort("someRun")]
    for call in calls:
        with pytest.raises(ProviderUnavailable, match=f"127.0.0.1:{port}") as caught:
            call()
        assert "secret-token-abc" not in str(caught.value)
    assert time.monotonic() - started < 10
    provider.close()


def test_a_large_input_arrives_gzipped_and_intact(provider: ApifyProvider) -> None:
    keywords = [f"keyword number {n} with a long tail of words" for n in range(60)]
    run = provider.start(ACTOR, tiktok_input(*keywords, max_items=120, itemsPerSecond=1000))
    finish(provider, run)
    seen = {item["searchKeyword"] for item in drain(provider, run.dataset_id, 50)
            if "searchKeyword" in item}  # error items name no keyword
    assert seen == set(keywords)


@pytest.mark.parametrize("name", ["tiktok", "instagram", "youtube"])
def test_each_platform_runs_end_to_end(provider: ApifyProvider, name: str) -> None:
    settings, platform = Settings(), get_platform(name)
    keywords = ["vegan food", "keto"]
    run_input = platform.build_keyword_input(keywords, 60, settings)
    run_input["_sandbox"] = {"startDelaySeconds": 0, "itemsPerSecond": 500}
    run = provider.start(platform.actor_id(settings), run_input)
    assert finish(provider, run).status == RunStatus.SUCCEEDED
    items = drain(provider, run.dataset_id)
    assert len(items) == 60
    creators = [c for c in (platform.normalize(item, keywords) for item in items) if c]
    assert len(creators) >= 54
    assert {c.matched_keyword for c in creators} == set(keywords)
    assert len({c.key for c in creators}) < len(creators)  # creators repeat: dedup matters


@pytest.mark.parametrize(("status", "expected"), [
    (429, ProviderUnavailable), (503, ProviderUnavailable), (403, ProviderRejected)])
def test_error_answers_map_after_the_clients_retries(
        status: int, expected: type[Exception], provider_class: type[ApifyProvider]) -> None:
    """A bare stub answers every request with `status`, 403 included (the sandbox's fault
    modes, which answer only 429 and 5xx, are tried in test_sandbox_faults.py)."""
    calls: list[str] = []

    async def fail(request: Request) -> JSONResponse:
        calls.append(request.url.path)
        return JSONResponse({"error": {"type": "stub", "message": f"stub says {status}"}},
                            status_code=status)

    stub = Starlette(routes=[Route("/v2/actors/{actor}/runs", fail, methods=["POST"])])
    with serve_in_thread(stub) as url:
        provider = provider_class("tok-123", url, max_retries=2,
                                  min_delay_between_retries=timedelta(milliseconds=5))
        with pytest.raises(expected, match=f"HTTP {status} stub.*stub says {status}"):
            provider.start(ACTOR, {})
        provider.close()
    assert len(calls) == (1 if status == 403 else 3)  # 429/5xx were retried twice first
