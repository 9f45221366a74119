"""Every event bus, behind the same fixture: one suite, four backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvloop

from scrapetrack.events.base import Bus
from scrapetrack.events.inprocess import InProcessBus
from scrapetrack.events.poll import PollBus
from scrapetrack.events.postgres import PostgresBus
from scrapetrack.events.redis import RedisBus
from scrapetrack.store.db import make_engine
from scrapetrack.store.migrate import upgrade
from scrapetrack.store.models import ScrapingJob
from scrapetrack.store.repository import Store

BUSES = ["inprocess", "poll", "redis", "postgres"]


@pytest.fixture(params=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """The hub on asyncio's own loop and on uvloop, which uvicorn picks when it is installed
    (its timers differ: call_at with a past time gives a Handle without when())."""
    if request.param == "uvloop":
        return "asyncio", {"loop_factory": uvloop.new_event_loop}
    return "asyncio", {}


@dataclass
class Case:
    store: Store
    bus: Bus
    name: str

    def new_job(self) -> ScrapingJob:
        user = self.store.create_user(f"{uuid.uuid4().hex[:8]}@example.com")
        campaign = self.store.create_campaign(user.id, "c", None)
        return self.store.create_job(campaign_id=campaign.id, user_id=user.id,
                                     platform="tiktok", keywords=["yoga"], target_results=10)


@pytest.fixture(params=BUSES)
def case(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Case]:
    name = request.param
    if name == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/store.db"
    store = Store(make_engine(url))
    upgrade(store.engine)
    channel = f"test_{uuid.uuid4().hex[:10]}"
    bus: Bus
    if name == "inprocess":
        bus = InProcessBus()
    elif name == "poll":
        bus = PollBus(interval=0.1)
    elif name == "redis":
        bus = RedisBus(request.getfixturevalue("redis_url"), channel=channel)
    else:
        bus = PostgresBus(store.engine, channel=channel)
    yield Case(store, bus, name)
    bus.close()
    store.close()
