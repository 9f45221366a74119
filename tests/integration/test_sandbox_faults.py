"""The sandbox's fault modes, through ApifyProvider: the real apify-client over real HTTP.

Each test starts its own sandbox with one fault plan and counts, on `app.state.sandbox`, the
requests it saw and the faults it injected, so retries are checked exactly. Retry delays are
10 ms and request timeouts a fraction of a second; waits are loops with deadlines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from scrapetrack.config import Settings
from scrapetrack.exceptions import ProviderRejected, ProviderUnavailable
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import RunStatus
from scrapetrack.providers.platforms import get_platform
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.sandbox.faults import FaultPlan, FaultSpecError
from scrapetrack.sandbox.generate import keywords_from_input
from scrapetrack.sandbox.state import SandboxState
from scrapetrack.serving import serve_in_thread
from tests.integration.conftest import AsyncDriven

ACTOR = "apidojo~tiktok-scraper"
T = TypeVar("T")


@dataclass
class Sandbox:
    url: str
    state: SandboxState
    clock: list[float]
    # Set for each test by `calls`: blocking calls, or the worker's coroutines.
    provider_class: ClassVar[type[ApifyProvider]] = ApifyProvider

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    def provider(self, retries: int = 2, timeout: float = 5.0) -> ApifyProvider:
        return self.provider_class(None, self.url, max_retries=retries,
                                   min_delay_between_retries=timedelta(milliseconds=10),
                                   request_timeout=timedelta(seconds=timeout))

    def run(self, provider: ApifyProvider, *keywords: str, items: int = 20,
            **sandbox: Any) -> tuple[str, str]:
        """Start a run whose items are all written at once (the clock is ours): (run, dataset)."""
        run = provider.start(ACTOR, tiktok_input(*(keywords or ("yoga",)), max_items=items,
                                                 **sandbox))
        self.clock[0] += 1000
        return run.run_id, run.dataset_id


@pytest.fixture(autouse=True)
def calls(provider_class: type[ApifyProvider], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fault both ways: as the service calls Apify, and as the worker does."""
    monkeypatch.setattr(Sandbox, "provider_class", provider_class)


@contextmanager
def sandbox(faults: str | None = None) -> Iterator[Sandbox]:
    clock = [0.0]
    app = create_sandbox_app(faults=faults, clock=lambda: clock[0], start_delay_seconds=0,
                             items_per_second=100)
    with serve_in_thread(app, lifespan=False) as url:
        yield Sandbox(url, app.state.sandbox, clock)  # type: ignore[attr-defined]


def tiktok_input(*keywords: str, max_items: int = 20, **sandbox: Any) -> dict[str, Any]:
    run_input = get_platform("tiktok").build_keyword_input(list(keywords), max_items,
                                                           Settings())
    return {**run_input, "_sandbox": sandbox} if sandbox else run_input


# The grammar, and exact counting

def test_a_spec_parses_into_rules_and_a_run_rule() -> None:
    plan = FaultPlan.parse("items:429x3, runs:503x2;items:reset@0.1 items:malformed+4x1,"
                           "all:slow0.5/3,run:never-finish+5")
    kinds = [(r.families, r.action, r.status, r.skip, r.times, r.every, r.seconds)
             for r in plan.rules]
    assert kinds == [
        (("items",), "status", 429, 0, 3, None, None),
        (("runs",), "status", 503, 0, 2, None, None),
        (("items",), "reset", None, 0, None, None, None),
        (("items",), "malformed", None, 4, 1, None, None),
        (("runs", "items", "datasets"), "slow", None, 0, None, 3, 0.5),
    ]
    assert (plan.never_finish, plan.hang_after) == (True, 5)
    assert FaultPlan.parse("run:silent").hang_after == 0
    assert FaultPlan.parse(["items:non-objects", "run:never_finish"]).never_finish
    assert not FaultPlan.parse("") and not FaultPlan.parse(None)


@pytest.mark.parametrize(("rule", "fires_on"), [
    ("items:503", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
    ("items:503x3", [1, 2, 3]),
    ("items:503+2x3", [3, 4, 5]),
    ("items:503/3", [3, 6, 9]),
    ("items:503+1/4", [5, 9]),
    ("items:503@0.25", [4, 8]),
    ("items:503@0.3", [4, 7, 10]),
    ("items:503+8", [9, 10]),
])
def test_counting_is_exact(rule: str, fires_on: list[int]) -> None:
    counter = FaultPlan.parse(rule).counter()
    assert [n for n in range(1, 11) if counter.next("items")] == fires_on
    assert counter.next("runs") is None  # another family is not counted by the rule


def test_rules_count_on_their_own_and_the_first_that_fires_wins() -> None:
    counter = FaultPlan.parse("items:429x2,items:503/2,runs:500").counter()
    kinds = [fault.kind if (fault := counter.next("items")) else None for _ in range(6)]
    assert kinds == ["429", "429", None, "503", None, "503"]
    assert counter.seen == [6, 6, 0]


@pytest.mark.parametrize(("spec", "message"), [
    ("503", "needs a family"),
    ("pages:503", "unknown family 'pages'"),
    ("items:418", "status 418 is not 402, 404, 429 or 5xx"),
    ("items:explode", "unknown action 'explode'"),
    ("items:503x0", "whole number >= 1"),
    ("items:503@1.5", "0 < P <= 1"),
    ("items:503x2/3", "is not ACTION"),
    ("runs:nonobjects", "applies to items: only"),
    ("all:mismatch", "applies to items: only"),
    ("items:reset5", "only slow takes seconds"),
    ("items:slow500", "0 < seconds <= 300"),
    ("run:503", "did you mean|request faults go under runs:"),
    ("run:never-finish,run:silent", "more than one run: rule"),
])
def test_nonsense_is_rejected_with_a_clear_error(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        FaultPlan.parse(spec)
    with pytest.raises(FaultSpecError):
        create_sandbox_app(faults=spec)


@pytest.mark.parametrize("platform", ["tiktok", "instagram", "youtube"])
def test_the_keyword_directive_survives_each_platforms_input(platform: str) -> None:
    """From the search box to the actor input and back, as the sandbox reads keywords."""
    keyword = "sandbox:fault=items:503x3"
    run_input = get_platform(platform).build_keyword_input(["yoga", keyword], 20, Settings())
    plans = [plan for k in keywords_from_input(run_input) if (plan := FaultPlan.from_keyword(k))]
    assert len(plans) == 1
    (rule,) = plans[0].rules
    assert (rule.families, rule.status, rule.times) == (("items",), 503, 3)


def test_keyword_directive_forms() -> None:
    both = FaultPlan.from_keyword(" sandbox:fault=runs:429x2; items:reset ")
    assert both is not None and [r.action for r in both.rules] == ["status", "reset"]
    assert FaultPlan.from_keyword("sandbox:fault:run:never-finish") == FaultPlan.parse(
        "run:never-finish")
    assert FaultPlan.from_keyword("sandboxfaultrunsilent") == FaultPlan(
        (), True, 0, "runsilent")
    assert FaultPlan.from_keyword("yoga") is None
    assert FaultPlan.from_keyword("sandbox:failed") is None
    with pytest.raises(FaultSpecError, match="unknown action"):
        FaultPlan.from_keyword("sandbox:fault=items:oops")


# 429 and 5xx: retried by apify-client, then recovered or exhausted

def test_transient_429s_on_items_are_retried_and_recover() -> None:
    with sandbox("items:429x3") as box:
        provider = box.provider(retries=4)
        _, dataset = box.run(provider)
        page = provider.items_page(dataset, 0, 10)
        assert len(page.items) == 10
        assert box.state.requests["items"] == 4
        assert box.state.injected == {"items:429": 3}


def test_a_429_carries_retry_after() -> None:
    with sandbox("runs:429x1") as box, httpx.Client(base_url=box.url) as http:
        answer = http.get("/v2/actor-runs/someRun")
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "1"
        assert answer.json()["error"]["type"] == "rate-limit-exceeded"
        assert http.get("/v2/actor-runs/someRun").status_code == 404  # the fault is spent


def test_transient_503s_on_start_cost_a_single_run() -> None:
    with sandbox("runs:503x2") as box:
        provider = box.provider(retries=2)
        run_id, _ = box.run(provider)
        assert provider.get_run(run_id).status == RunStatus.SUCCEEDED
        assert box.state.runs_started == 1
        assert (box.state.requests["runs"], box.state.injected["runs:503"]) == (4, 2)


def test_persistent_503s_on_items_exhaust_the_retries() -> None:
    with sandbox("items:503") as box:
        provider = box.provider(retries=2)
        _, dataset = box.run(provider)
        with pytest.raises(ProviderUnavailable, match=re.escape(
                f"Apify kept failing while reading items 0..10 of dataset {dataset} (HTTP 503 "
                "service-unavailable after 2 retries): The sandbox answered 503")) as caught:
            provider.items_page(dataset, 0, 10)
        assert caught.value.__cause__ is None and caught.value.__context__ is None
        assert box.state.requests["items"] == 3


def test_persistent_429s_on_start_start_nothing() -> None:
    with sandbox("runs:429") as box:
        provider = box.provider(retries=3)
        with pytest.raises(ProviderUnavailable, match=re.escape(
                f"Apify kept rate-limiting us while starting actor {ACTOR} (HTTP 429 "
                "rate-limit-exceeded after 3 retries)")):
            provider.start(ACTOR, tiktok_input("yoga"))
        assert box.state.runs_started == 0
        assert box.state.requests["runs"] == 4


def test_every_kth_request_fails_and_one_retry_gets_past_each() -> None:
    with sandbox("items:502/2") as box:
        provider = box.provider(retries=1)
        _, dataset = box.run(provider, items=40)
        items = [item for offset in range(0, 40, 10)
                 for item in provider.items_page(dataset, offset, 10).items]
        assert len(items) == 40
        # Pages 2, 3 and 4 each met a 502 first: 4 pages, 3 retries.
        assert (box.state.requests["items"], box.state.injected["items:502"]) == (7, 3)


# Network faults: a reset connection, an answer slower than the client waits

def test_a_reset_connection_is_retried_and_recovers() -> None:
    with sandbox("items:resetx2") as box:
        provider = box.provider(retries=2)
        _, dataset = box.run(provider)
        assert len(provider.items_page(dataset, 0, 10).items) == 10
        assert box.state.injected["items:reset"] == 2


def test_a_connection_reset_every_time_is_unavailable() -> None:
    with sandbox("items:reset") as box:
        provider = box.provider(retries=1)
        _, dataset = box.run(provider)
        with pytest.raises(ProviderUnavailable, match=re.escape(
                f"The connection to {box.host} was reset while reading items 0..10 of "
                f"dataset {dataset} (after 1 retry)")):
            provider.items_page(dataset, 0, 10)
        # Two attempts. aiohttp (the async client's transport) sends an idempotent request
        # once more on a fresh connection when its connection drops, so each counts twice.
        sends = 2 if issubclass(box.provider_class, AsyncDriven) else 1
        assert box.state.requests["items"] == 2 * sends


def test_a_slow_answer_times_out_then_a_retry_gets_it() -> None:
    with sandbox("items:slow60x1") as box:
        provider = box.provider(retries=1, timeout=0.3)
        _, dataset = box.run(provider)
        started = time.monotonic()
        assert len(provider.items_page(dataset, 0, 10).items) == 10
        # It gave up on the first answer at its timeout, far short of the 60 s it would take.
        assert 0.3 <= time.monotonic() - started < 30
        assert box.state.requests["items"] == 2


def test_answers_always_too_slow_are_unavailable() -> None:
    with sandbox("runs:slow60") as box:
        provider = box.provider(retries=1, timeout=0.2)
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match=re.escape(
                f"Apify at {box.host} did not answer in time while reading run someRun "
                "(after 1 retry)")):
            provider.get_run("someRun")
        # 0.2 s, then 0.4 s (the timeout doubles), never the 60 s an answer would take.
        assert 0.6 <= time.monotonic() - started < 30


# Malformed and partial pages: errors, never an empty page

@pytest.mark.parametrize(("fault", "message"), [
    ("malformed", "sent a malformed items page (not JSON: '<html>"),
    ("truncated", "sent a truncated items page (its JSON ends early, after "),
    ("mismatch", "sent an inconsistent items page while reading items 10..20 of dataset {} "
                 "(its X-Apify-Pagination-Offset says 20, not 10)"),
])
def test_a_broken_page_is_unavailable_and_asking_again_gets_it(fault: str,
                                                               message: str) -> None:
    with sandbox(f"items:{fault}x1") as box:
        provider = box.provider(retries=3)
        _, dataset = box.run(provider)
        with pytest.raises(ProviderUnavailable, match=re.escape(message.format(dataset))):
            provider.items_page(dataset, 10, 10)
        assert box.state.requests["items"] == 1  # apify-client does not retry a bad body
        page = provider.items_page(dataset, 10, 10)
        assert (page.offset, len(page.items)) == (10, 10)


def test_a_malformed_run_answer_is_unavailable() -> None:
    with sandbox() as box:
        provider = box.provider()
        run_id, _ = box.run(provider, faults="runs:truncated+1")  # +1: the start goes through
        with pytest.raises(ProviderUnavailable, match=re.escape(
                f"Apify at {box.host} sent a truncated answer (its JSON ends early")):
            provider.get_run(run_id)


def test_items_that_are_not_objects_keep_their_rows_and_are_skipped() -> None:
    with sandbox("items:nonobjects") as box:
        provider = box.provider()
        _, dataset = box.run(provider, items=20)
        page = provider.items_page(dataset, 0, 20)
        assert (page.offset, len(page.items)) == (0, 20)  # the next page starts at 20
        odd = page.items[1::2]
        assert [item["value"] for item in odd[:4]] == [None, "not an object", 42, ["a", "list"]]
        assert all(item == {"error": "not an object", "value": item["value"]} for item in odd)
        tiktok = get_platform("tiktok")
        assert all(tiktok.normalize(item, ["yoga"]) is None for item in odd)
        assert any(tiktok.normalize(item, ["yoga"]) for item in page.items[::2])


# A run that never finishes

@pytest.mark.parametrize(("spec", "items"), [
    ("run:never-finish", 15), ("run:never-finish+4", 4), ("run:silent", 0)])
def test_a_run_that_never_finishes_stays_running_until_aborted(spec: str, items: int) -> None:
    with sandbox(spec) as box:
        provider = box.provider()
        run_id, dataset = box.run(provider, items=15)
        box.clock[0] += 10**7  # months later, by the sandbox's clock
        assert provider.get_run(run_id, wait_seconds=0.2).status == RunStatus.RUNNING
        assert len(provider.items_page(dataset, 0, 100).items) == items
        provider.abort(run_id)
        box.clock[0] += 1
        assert provider.get_run(run_id).status == RunStatus.ABORTED
        assert len(provider.items_page(dataset, 0, 100).items) == items


# Per run: the `_sandbox.faults` input and the keyword directive

def test_a_runs_own_faults_touch_only_that_run() -> None:
    with sandbox() as box:
        provider = box.provider(retries=3)
        _, faulty = box.run(provider, faults="items:503x2")
        _, healthy = box.run(provider)
        assert len(provider.items_page(healthy, 0, 10).items) == 10
        assert box.state.injected["items:503"] == 0
        assert len(provider.items_page(faulty, 0, 10).items) == 10
        assert box.state.injected["items:503"] == 2


def test_a_runs_own_start_faults_are_retried_into_one_run() -> None:
    with sandbox() as box:
        provider = box.provider(retries=3)
        run_id, _ = box.run(provider, faults=["runs:503x2", "run:never-finish"])
        assert box.state.runs_started == 1
        assert box.state.injected["runs:503"] == 2
        assert provider.get_run(run_id).status == RunStatus.RUNNING
        run_id, _ = box.run(provider, faults=["runs:503x2"])  # the same input starts afresh
        assert box.state.runs_started == 2
        assert box.state.injected["runs:503"] == 4


def test_a_search_keyword_sets_the_runs_faults() -> None:
    with sandbox() as box:
        provider = box.provider(retries=1)
        run_id, dataset = box.run(provider, "yoga", "sandbox:fault=items:503x1 run:silent")
        assert len(provider.items_page(dataset, 0, 10).items) == 0
        assert box.state.injected["items:503"] == 1
        assert provider.get_run(run_id).status == RunStatus.RUNNING
        run_id, dataset = box.run(provider, "yoga", "sandbox:fault=items:500")
        with pytest.raises(ProviderUnavailable, match=r"HTTP 500 internal-server-error after "
                                                      r"1 retry"):
            provider.items_page(dataset, 0, 10)


@pytest.mark.parametrize(("sandbox_options", "keywords", "message"), [
    ({"faults": "items:oops"}, ("yoga",), r"HTTP 400 invalid-input.*_sandbox\.faults: .*oops"),
    ({"faults": 5}, ("yoga",), r"_sandbox\.faults must be a fault spec"),
    ({}, ("yoga", "sandbox:fault=items:999"),
     r"Search keyword .*status 999 is not 402, 404, 429 or 5xx"),
])
def test_bad_per_run_faults_are_rejected(sandbox_options: dict[str, Any],
                                         keywords: tuple[str, ...], message: str) -> None:
    with sandbox() as box:
        provider = box.provider()
        with pytest.raises(ProviderRejected, match=message):
            provider.start(ACTOR, tiktok_input(*keywords, **sandbox_options))
        assert box.state.runs_started == 0
