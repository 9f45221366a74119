"""The event seam's contract, for every bus: a change made in the store and announced by a
worker reaches every watcher of the job and of its campaign, newest state only, in order; a
bus that routes by campaign hands a process only the notices of the campaigns it watches."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from sqlalchemy import text

from scrapetrack.events.base import RESYNC, Notice, Resync
from scrapetrack.events.coalesce import CoalescingPublisher
from scrapetrack.events.hub import Hub, Watcher
from scrapetrack.events.redis import RedisBus
from scrapetrack.jobs import Status
from scrapetrack.serializers import view_of
from scrapetrack.store.models import utcnow
from tests.conftest import until
from tests.contract.conftest import Case

pytestmark = pytest.mark.anyio


class Client:
    """What a connection receives: the frames written to its `send`."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.frames.append(message["body"])

    def events(self) -> list[tuple[int, dict[str, Any]]]:
        found = []
        for frame in b"".join(self.frames).split(b"\n\n"):
            fields = dict(line.split(": ", 1) for line in frame.decode().splitlines()
                          if ": " in line and not line.startswith(":"))
            if "data" in fields:
                assert fields["event"] == "progress"
                found.append((int(fields["id"]), json.loads(fields["data"])))
        return found


@asynccontextmanager
async def running(case: Case, handed: list[Notice | Resync] | None = None
                  ) -> AsyncIterator[tuple[Hub, CoalescingPublisher]]:
    """A started hub on the case's bus, and a worker's publisher beside it; what the bus
    hands the hub is also added to `handed`."""
    hub = Hub(case.store, case.bus, max_hz=50)
    if handed is not None:
        deliver = hub._deliver

        def spied(item: Notice | Resync) -> None:
            handed.append(item)
            deliver(item)

        setattr(hub, "_deliver", spied)  # noqa: B010 - on this hub alone, before it listens
    await hub.start()
    publisher = CoalescingPublisher(case.bus, interval=0.02)
    try:
        yield hub, publisher
    finally:
        publisher.close()
        await hub.stop()


async def arrives(check: Callable[[], bool], within: float) -> bool:
    """Whether `check` comes true within `within` seconds (no failure if it does not)."""
    with contextlib.suppress(AssertionError):
        await until(check, within)
    return check()


def advance(case: Case, job_id: str, publisher: CoalescingPublisher, steps: int) -> None:
    """A worker's writes from another thread: claim, then `steps` progress changes."""
    job = case.store.claim(job_id, "w1", utcnow(), utcnow())
    assert job is not None
    publisher.publish(Notice(job.id, job.campaign_id, job.version))
    for step in range(1, steps + 1):
        version = case.store.update_owned(job.id, "w1", progress=step, processed_results=step)
        assert version is not None
        publisher.publish(Notice(job.id, job.campaign_id, version))


async def test_every_watcher_gets_each_change_then_the_end(case: Case) -> None:
    job = case.new_job()
    async with running(case) as (hub, publisher):
        clients = [Client() for _ in range(3)]
        watchers = [Watcher(c.send, ends_with=job.id) for c in clients]
        for watcher in watchers:
            hub.watch_job(watcher, view_of(job))
        await until(lambda: all(c.events() for c in clients))
        assert [c.events()[0][1]["status"] for c in clients] == ["pending"] * 3

        await asyncio.to_thread(advance, case, job.id, publisher, 5)
        await until(lambda: all(c.events()[-1][1]["progress"] == 5 for c in clients))
        for client in clients:
            ids = [event_id for event_id, _ in client.events()]
            assert ids == sorted(set(ids)), "ids must increase and never repeat"
            progress = [data["progress"] for _, data in client.events()]
            assert progress == sorted(progress)

        final = await asyncio.to_thread(case.store.finish, job.id, Status.COMPLETED,
                                        worker_id="w1", progress=100)
        assert final is not None
        publisher.publish(Notice(job.id, job.campaign_id, final.version), final=True)
        await until(lambda: all(w.ended for w in watchers))
        assert all(c.events()[-1] == (final.version, c.events()[-1][1]) for c in clients)
        assert all(c.events()[-1][1]["status"] == "completed" for c in clients)


async def test_a_campaign_watcher_sees_jobs_started_after_it_connected(case: Case) -> None:
    first = case.new_job()
    async with running(case) as (hub, publisher):
        client = Client()
        hub.watch_campaign(Watcher(client.send), first.campaign_id, [view_of(first)])
        await until(lambda: len(client.events()) == 1)
        later = await asyncio.to_thread(
            case.store.create_job, campaign_id=first.campaign_id, user_id=first.user_id,
            platform="tiktok", keywords=["hiit"], target_results=5)
        publisher.publish(Notice(later.id, later.campaign_id, later.version))
        await until(lambda: later.id in {data["id"] for _, data in client.events()})
        ids = [event_id for event_id, _ in client.events()]
        assert ids == sorted(set(ids))
        # A job of another campaign never shows up here.
        other = await asyncio.to_thread(case.new_job)
        publisher.publish(Notice(other.id, other.campaign_id, other.version))
        await asyncio.to_thread(advance, case, later.id, publisher, 1)
        await until(lambda: client.events()[-1][1]["status"] == "processing")
        assert other.id not in {data["id"] for _, data in client.events()}


async def test_a_watcher_resuming_from_the_current_version_gets_nothing_stale(
        case: Case) -> None:
    job = case.new_job()
    async with running(case) as (hub, _):
        done = await asyncio.to_thread(case.store.finish, job.id, Status.COMPLETED, progress=100)
        assert done is not None
        caught_up, behind = Client(), Client()
        w1 = Watcher(caught_up.send, ends_with=job.id)
        w1.seen[job.id] = done.version
        w2 = Watcher(behind.send, ends_with=job.id)
        w2.seen[job.id] = job.version
        hub.watch_job(w1, view_of(done))
        hub.watch_job(w2, view_of(done))
        await until(lambda: w1.ended and w2.ended)
        assert caught_up.events() == []
        assert [data["status"] for _, data in behind.events()] == ["completed"]


async def test_reads_do_not_grow_with_watchers(case: Case) -> None:
    """The store is read per change, not per watcher."""
    job = case.new_job()
    async with running(case) as (hub, publisher):
        clients = [Client() for _ in range(200)]
        for client in clients:
            hub.watch_job(Watcher(client.send, ends_with=job.id), view_of(job))
        reads = [0]
        read = hub.store.job_states

        def counted(*args: Any) -> Any:
            reads[0] += 1
            return read(*args)

        setattr(hub.store, "job_states", counted)  # noqa: B010 - on this store alone
        await asyncio.to_thread(advance, case, job.id, publisher, 3)
        await until(lambda: all(c.events()[-1][1]["progress"] == 3 for c in clients))
        # A few per change (and the poll bus's safety polls while the machine is slow),
        # never one per watcher.
        assert 0 < reads[0] < len(clients) // 10


async def test_listen_begins_with_resync_and_carries_notices(case: Case) -> None:
    got: list[Notice | Resync] = []
    case.bus.follow("campaign-1")  # before listening: subscribed to before the RESYNC
    listening = asyncio.ensure_future(case.bus.listen(got.append))
    try:
        await until(lambda: len(got) > 0)
        assert got == [RESYNC]
        notice = Notice("job-1", "campaign-1", 7)
        if case.name == "poll":  # by design it carries nothing: the hub's poll is the mechanism
            case.bus.publish(notice)
            assert not await arrives(lambda: len(got) > 1, within=0.2)
            return

        async def published() -> bool:  # a subscription may take a moment to become live
            await asyncio.to_thread(case.bus.publish, notice)
            return await arrives(lambda: notice in got, within=0.1)

        await until(published, what="a published notice to arrive")
        assert set(got) == {RESYNC, notice}
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


@asynccontextmanager
async def listening(case: Case) -> AsyncIterator[list[Notice | Resync]]:
    """What the case's bus delivers while it listens, once it has connected."""
    got: list[Notice | Resync] = []
    task = asyncio.ensure_future(case.bus.listen(got.append))
    try:
        await until(lambda: RESYNC in got)
        yield got
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def carried(case: Case, got: list[Notice | Resync], notice: Notice,
                  marker: Notice) -> bool:
    """Whether `notice` arrives: published before `marker`, of a campaign followed all along,
    it has arrived by the time the marker has if it ever does (one connection keeps the
    order)."""
    await asyncio.to_thread(case.bus.publish, notice)
    await asyncio.to_thread(case.bus.publish, marker)
    await until(lambda: marker in got, what="the marker to arrive")
    return notice in got


async def test_a_campaign_followed_unfollowed_and_followed_again_is_carried(
        case: Case) -> None:
    if case.name == "poll":
        pytest.skip("the polling bus carries no notices: the hub's poll is the mechanism")
    routes = case.bus.routes_by_campaign
    case.bus.follow("kept")
    async with listening(case) as got:
        versions = iter(range(1, 1000))

        def notice(campaign_id: str) -> Notice:
            return Notice(f"job-{campaign_id}", campaign_id, next(versions))

        case.bus.follow("again")
        if routes:  # the confirmation, after which nothing published is missed
            await until(lambda: Resync("again") in got)
        assert await carried(case, got, notice("again"), notice("kept"))

        case.bus.unfollow("again")

        async def stopped() -> bool:
            return not await carried(case, got, notice("again"), notice("kept"))

        if routes:  # once the server has had the unsubscription
            await until(stopped, what="the unfollowed campaign's notices to stop")
            assert await stopped()
        else:
            assert not await stopped()

        case.bus.follow("again")
        if routes:
            await until(lambda: got.count(Resync("again")) == 2)
        assert await carried(case, got, notice("again"), notice("kept"))

        # Unfollowed and followed again before the listen task looked: never dropped.
        case.bus.unfollow("again")
        case.bus.follow("again")
        await asyncio.sleep(0.1)
        assert await carried(case, got, notice("again"), notice("kept"))
        # Counted: two follows need two unfollows.
        case.bus.follow("again")
        case.bus.unfollow("again")
        await asyncio.sleep(0.1)
        assert await carried(case, got, notice("again"), notice("kept"))


async def test_notices_published_together_arrive_each_in_order(case: Case) -> None:
    """A worker sends the notices of one loop turn together (publish_many)."""
    if case.name == "poll":
        pytest.skip("the polling bus carries no notices: the hub's poll is the mechanism")
    notices = [Notice(f"job-{i % 3}", f"campaign-{i % 2}", i) for i in range(8)]
    case.bus.follow("campaign-0")
    case.bus.follow("campaign-1")
    async with listening(case) as got:
        await asyncio.to_thread(case.bus.publish_many, notices)
        await until(lambda: notices[-1] in got, what="the last notice to arrive")
        assert [item for item in got if isinstance(item, Notice)] == notices


async def test_a_campaign_id_of_any_length_is_carried(case: Case) -> None:
    """PostgreSQL cuts long channel names: an id longer than a UUID still gets its own."""
    if case.name == "poll":
        pytest.skip("the polling bus carries no notices: the hub's poll is the mechanism")
    long_id = "c" * 80
    case.bus.follow(long_id)
    case.bus.follow("kept")
    async with listening(case) as got:
        assert await carried(case, got, Notice("job", long_id, 1), Notice("job", "kept", 1))
        if case.bus.routes_by_campaign:  # one differing in its last character is not it
            other = Notice("job", "c" * 79 + "d", 2)
            assert not await carried(case, got, other, Notice("job", "kept", 2))


@pytest.mark.parametrize("watching", ["job", "campaign"])
async def test_a_hub_is_handed_only_the_notices_of_campaigns_it_watches(
        case: Case, watching: str) -> None:
    watched, other = case.new_job(), case.new_job()
    handed: list[Notice | Resync] = []
    async with running(case, handed) as (hub, publisher):
        await until(lambda: RESYNC in handed)
        client = Client()
        if watching == "job":
            hub.watch_job(Watcher(client.send, ends_with=watched.id), view_of(watched))
        else:
            hub.watch_campaign(Watcher(client.send), watched.campaign_id, [view_of(watched)])
        if case.bus.routes_by_campaign:
            await until(lambda: Resync(watched.campaign_id) in handed)

        def others_change() -> None:
            for version in range(other.version + 1, other.version + 21):
                case.bus.publish(Notice(other.id, other.campaign_id, version))

        await asyncio.to_thread(others_change)
        await asyncio.to_thread(advance, case, watched.id, publisher, 1)
        await until(lambda: client.events()[-1][1]["progress"] == 1)
        if case.name != "poll":  # the watched job's notices came, after the others'
            await until(lambda: any(isinstance(item, Notice) and item.job_id == watched.id
                                    and item.version == watched.version + 2
                                    for item in handed))
        others = [item for item in handed
                  if isinstance(item, Notice) and item.campaign_id == other.campaign_id]
        if case.bus.routes_by_campaign:
            assert others == []
        assert other.id not in {data["id"] for _, data in client.events()}


async def test_a_campaign_watcher_is_handed_a_new_jobs_first_notice(case: Case) -> None:
    first = case.new_job()
    if case.name != "poll":
        case.bus.safety_poll_seconds = 60.0  # notices alone
    handed: list[Notice | Resync] = []
    async with running(case, handed) as (hub, publisher):
        await until(lambda: RESYNC in handed)
        client = Client()
        hub.watch_campaign(Watcher(client.send), first.campaign_id, [view_of(first)])
        if case.bus.routes_by_campaign:
            await until(lambda: Resync(first.campaign_id) in handed)
        await until(lambda: len(client.events()) == 1)
        later = await asyncio.to_thread(
            case.store.create_job, campaign_id=first.campaign_id, user_id=first.user_id,
            platform="tiktok", keywords=["hiit"], target_results=5)
        notice = Notice(later.id, later.campaign_id, later.version)
        publisher.publish(notice)
        await until(lambda: later.id in {data["id"] for _, data in client.events()})
        if case.name != "poll":
            assert notice in handed


async def test_a_job_watcher_gets_its_jobs_changes_by_notice(case: Case) -> None:
    job, neighbour = case.new_job(), case.new_job()
    if case.name != "poll":
        case.bus.safety_poll_seconds = 60.0  # notices alone
    handed: list[Notice | Resync] = []
    async with running(case, handed) as (hub, publisher):
        await until(lambda: RESYNC in handed)
        watched, beside = Client(), Client()
        hub.watch_job(Watcher(watched.send, ends_with=job.id), view_of(job))
        hub.watch_job(Watcher(beside.send, ends_with=neighbour.id), view_of(neighbour))
        if case.bus.routes_by_campaign:  # every change from here on comes as a notice
            await until(lambda: Resync(job.campaign_id) in handed)
        await asyncio.to_thread(advance, case, job.id, publisher, 3)
        await until(lambda: watched.events()[-1][1]["progress"] == 3)
        progress = [data["progress"] for _, data in watched.events()]
        assert progress == sorted(progress)
        assert [data["status"] for _, data in beside.events()] == ["pending"]


async def test_a_job_watcher_gets_a_change_made_between_its_snapshot_and_joining(
        case: Case) -> None:
    """A stream reads its job, then joins the hub: a change in between, whose notice came
    while nobody there watched the job, still reaches it (here its campaign is followed
    already, for a watcher of another of its jobs)."""
    job = case.new_job()
    sibling = await asyncio.to_thread(
        case.store.create_job, campaign_id=job.campaign_id, user_id=job.user_id,
        platform="tiktok", keywords=["hiit"], target_results=5)
    if case.name != "poll":
        case.bus.safety_poll_seconds = 60.0  # notices alone
    handed: list[Notice | Resync] = []
    async with running(case, handed) as (hub, publisher):
        await until(lambda: RESYNC in handed)
        hub.watch_job(Watcher(Client().send, ends_with=sibling.id), view_of(sibling))
        if case.bus.routes_by_campaign:
            await until(lambda: Resync(job.campaign_id) in handed)
        snapshot = view_of(job)  # read as the stream connected
        await asyncio.to_thread(advance, case, job.id, publisher, 1)
        if case.name != "poll":  # the change's notice came and found no watcher of the job
            await until(lambda: any(isinstance(item, Notice) and item.job_id == job.id
                                    and item.version == job.version + 2 for item in handed))
        client = Client()
        hub.watch_job(Watcher(client.send, ends_with=job.id), snapshot)
        await until(lambda: client.events()[-1][1]["progress"] == 1)


@pytest.mark.parametrize("again", ["at once", "after it was unsubscribed"])
async def test_a_campaign_watched_again_after_its_last_watcher_left_gets_its_changes(
        case: Case, again: str) -> None:
    job = case.new_job()
    if case.name != "poll":
        case.bus.safety_poll_seconds = 60.0  # notices alone
    handed: list[Notice | Resync] = []
    async with running(case, handed) as (hub, publisher):
        await until(lambda: RESYNC in handed)
        leaving = Watcher(Client().send)
        hub.watch_campaign(leaving, job.campaign_id, [view_of(job)])
        if case.bus.routes_by_campaign:
            await until(lambda: Resync(job.campaign_id) in handed)
        hub.unwatch(leaving)
        if again != "at once":
            await asyncio.sleep(0.2)  # the UNSUBSCRIBE's round trip
        client = Client()
        hub.watch_campaign(Watcher(client.send), job.campaign_id, [view_of(job)])
        if case.bus.routes_by_campaign and again != "at once":
            await until(lambda: handed.count(Resync(job.campaign_id)) == 2)
        await asyncio.to_thread(advance, case, job.id, publisher, 2)
        await until(lambda: client.events()[-1][1]["progress"] == 2)


def cut_listen_connection(case: Case) -> None:
    """End the bus's subscribing connection from the server's side."""
    if case.name in ("inprocess", "poll"):
        pytest.skip("no connection to lose")
    if isinstance(case.bus, RedisBus):  # the bus names its connection: that one only
        client = case.bus._client
        for entry in cast(list[dict[str, Any]], client.client_list()):
            if entry["name"] == case.bus.listener_name:
                client.client_kill_filter(_id=entry["id"])
        return
    with case.store.engine.connect() as conn:
        ended = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN %'")).scalar()
    assert ended == 1


async def test_a_lost_connection_subscribes_again_before_its_resync(case: Case) -> None:
    case.bus.follow("before")
    async with listening(case) as got:
        case.bus.follow("later")
        if case.bus.routes_by_campaign:
            await until(lambda: Resync("later") in got)
        await asyncio.to_thread(cut_listen_connection, case)
        await until(lambda: got.count(RESYNC) == 2)
        # Published once each, right after the RESYNC: the subscriptions were made first.
        for version, campaign_id in enumerate(["before", "later"], start=1):
            notice = Notice("job", campaign_id, version)
            await asyncio.to_thread(case.bus.publish, notice)
            await until(lambda: notice in got)  # noqa: B023 - awaited in this iteration


def test_publish_from_many_threads_is_safe(case: Case) -> None:
    errors: list[BaseException] = []

    def burst() -> None:
        try:
            for i in range(50):
                case.bus.publish(Notice("job", "campaign", i))
        except BaseException as exc:  # pragma: no cover - what the test is looking for
            errors.append(exc)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_ping_answers_while_the_backend_is_up(case: Case) -> None:
    """What /readyz and the bus_up gauge ask (a down broker: tests/integration/
    test_readiness.py)."""
    case.bus.ping()


async def test_idle_streams_get_a_heartbeat_comment(case: Case) -> None:
    job = case.new_job()
    hub = Hub(case.store, case.bus, heartbeat_seconds=0.2)
    await hub.start()
    try:
        client = Client()
        hub.watch_job(Watcher(client.send, ends_with=job.id), view_of(job))
        await until(lambda: b": ping\n\n" in client.frames)
        assert [data["status"] for _, data in client.events()] == ["pending"]
    finally:
        await hub.stop()


class BusyClient(Client):
    """A connection whose writes keep the loop busy a while (a loaded server)."""

    async def send(self, message: dict[str, Any]) -> None:
        busy_until = time.perf_counter() + 0.005
        while time.perf_counter() < busy_until:  # the loop's CPU, as a costly write takes it
            pass
        await super().send(message)


def all_at(clients: list[BusyClient], progress: int) -> bool:
    return all(c.events()[-1][1]["progress"] == progress for c in clients)


async def test_heartbeats_and_changes_keep_flowing_together(case: Case) -> None:
    """Pings, safety polls and the reads notices start share one timer. With the loop busier
    than a heartbeat period (deadlines already past when the timer is set again), both pings
    and changes still reach every client, many periods in."""
    job = case.new_job()
    case.bus.safety_poll_seconds = 0.1
    hub = Hub(case.store, case.bus, max_hz=50, heartbeat_seconds=0.1)
    await hub.start()
    publisher = CoalescingPublisher(case.bus, interval=0.02)
    try:
        clients = [BusyClient() for _ in range(12)]
        for client in clients:
            hub.watch_job(Watcher(client.send, ends_with=job.id), view_of(job))
        claimed = await asyncio.to_thread(case.store.claim, job.id, "w1", utcnow(), utcnow())
        assert claimed is not None
        step = 0
        # Each change once the last one has reached everyone, until every client has had
        # several pings: changes and heartbeats interleave over many periods.
        while step < 12 or not all(c.frames.count(b": ping\n\n") >= 3 for c in clients):
            assert step < 500, "the pings stopped"
            step += 1
            version = await asyncio.to_thread(case.store.update_owned, job.id, "w1",
                                              progress=step, processed_results=step)
            assert version is not None
            publisher.publish(Notice(job.id, job.campaign_id, version))
            await until(functools.partial(all_at, clients, step))
    finally:
        publisher.close()
        await hub.stop()
