"""Polling that follows the run: a quiet run is looked at less and less often, a flowing one
every interval, never more often than twice a second, and its status only when that can tell
something new. The sandbox's clock is held, so the test decides when items appear."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scrapetrack.access import Actor
from scrapetrack.config import Settings
from scrapetrack.jobs import Status
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import ItemsPage, RunInfo
from scrapetrack.runtime import Runtime, build_runtime
from scrapetrack.service import SearchRequest
from scrapetrack.worker import MAX_BACKOFF_FACTOR, MIN_LOOK_SECONDS, RUN_NEWS_SECONDS
from tests.conftest import HeldSandbox, wait_until


@dataclass(frozen=True)
class Look:
    at: float
    what: str  # "run" or "items"
    items: int = 0


class RecordingProvider(ApifyProvider):
    """The real provider, noting when the worker asked Apify what."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.looks: list[Look] = []

    async def get_run_async(self, run_id: str) -> RunInfo:
        self.looks.append(Look(time.monotonic(), "run"))
        return await super().get_run_async(run_id)

    async def items_page_async(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        page = await super().items_page_async(dataset_id, offset, limit)
        self.looks.append(Look(time.monotonic(), "items", len(page.items)))
        return page


@pytest.fixture
def held_runtime(held_sandbox: HeldSandbox,
                 make_settings: Callable[..., Settings]) -> Iterator[tuple[Runtime,
                                                                          RecordingProvider]]:
    settings = make_settings(apify_api_url=held_sandbox.url, WORKER_POLL_INTERVAL_SECONDS=0.1)
    provider = RecordingProvider("sandbox-token", settings.resolved_apify_api_url())
    runtime = build_runtime(settings, migrate=True, embedded_worker=False, provider=provider)
    try:
        yield runtime, provider
    finally:
        runtime.close()


def gaps(looks: list[Look]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(looks)]


def test_polling_follows_the_run(held_sandbox: HeldSandbox,
                                 held_runtime: tuple[Runtime, RecordingProvider]) -> None:
    runtime, provider = held_runtime
    user = runtime.accounts.create_user("poll@example.com").user
    campaign = runtime.store.create_campaign(user.id, "polling", None)
    job = runtime.service.start_search(Actor(user.id, user.email), SearchRequest(
        platform="tiktok", campaign_id=campaign.id, keywords=["slow"], target_results=40))
    driving = threading.Thread(target=runtime.runner.run, args=(job.id,))
    driving.start()
    run = held_sandbox.run(1)

    # A quiet run: each look waits longer than the last, up to the cap.
    def quiet_items() -> list[Look]:
        return [look for look in provider.looks if look.what == "items"]

    wait_until(lambda: len(quiet_items()) >= 6, 60, "six looks at a quiet run")
    quiet = quiet_items()[:6]
    assert all(look.items == 0 for look in quiet)
    waits = gaps(quiet)
    assert min(waits) >= MIN_LOOK_SECONDS * 0.9, waits
    assert waits[-1] >= 2 * MIN_LOOK_SECONDS * 1.8, waits  # backed off
    assert max(waits) <= MIN_LOOK_SECONDS * MAX_BACKOFF_FACTOR + 1.0, waits  # capped
    # While nothing came, each look asked whether the run had ended.
    assert sum(look.what == "run" for look in provider.looks) >= 5

    # Items flow: one more each fifth of a second, for eight seconds.
    flowing_from = len(provider.looks)
    for written in range(1, 41):
        held_sandbox.write(run, written)
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            driving.join(0.05)
    flowing = provider.looks[flowing_from:]
    pages = [look for look in flowing if look.what == "items"]
    runs = [look for look in flowing if look.what == "run"]
    assert min(gaps(pages)) >= MIN_LOOK_SECONDS * 0.9, gaps(pages)  # never over twice a second
    # Items came in every look but the first: the interval held at its floor.
    assert sorted(gaps(pages))[int(len(pages) * 0.9) - 1] <= MIN_LOOK_SECONDS + 0.35
    # The run's status was read for its news now and then, not at every look.
    flowing_seconds = flowing[-1].at - flowing[0].at
    assert len(runs) <= flowing_seconds / RUN_NEWS_SECONDS + 2, (len(runs), len(pages))
    assert len(runs) < len(pages) / 3

    held_sandbox.finish(run)
    driving.join(60)
    assert not driving.is_alive()
    final = runtime.store.get_job(job.id)
    assert final is not None and final.status == Status.COMPLETED
    assert final.items_offset == 40  # every item read, once
