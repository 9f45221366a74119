"""build_runtime(settings): the ONE place where backends are chosen and built."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from scrapetrack.accounts import Accounts
from scrapetrack.config import Settings
from scrapetrack.deliveries import Teller
from scrapetrack.events.base import Bus
from scrapetrack.events.coalesce import CoalescingPublisher
from scrapetrack.events.hub import Hub
from scrapetrack.events.inprocess import InProcessBus
from scrapetrack.events.poll import PollBus
from scrapetrack.events.postgres import PostgresBus
from scrapetrack.events.redis import RedisBus
from scrapetrack.events.slots import LocalSlots, RedisSlots, StreamSlots
from scrapetrack.exceptions import ConfigError, Unavailable
from scrapetrack.metrics import Metrics
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import Provider
from scrapetrack.providers.traced import TracedProvider
from scrapetrack.qstash import QStashQueue
from scrapetrack.queue import JobQueue, Queue, make_huey
from scrapetrack.reaper import reap
from scrapetrack.scheduler import Scheduler
from scrapetrack.schedules import Schedules
from scrapetrack.service import Service
from scrapetrack.store.db import make_engine
from scrapetrack.store.migrate import upgrade
from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import Store
from scrapetrack.store.traced import TracedStore
from scrapetrack.teams import Teams
from scrapetrack.tracing import NO_TRACING, Tracing
from scrapetrack.webhooks import Webhooks
from scrapetrack.worker import JobRunner

if TYPE_CHECKING:  # the SDK is optional: imported only once tracing is chosen
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)
CONSUMER_THREADS = 4


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Runtime:
    settings: Settings
    store: Store
    provider: Provider
    queue: Queue
    accounts: Accounts
    service: Service
    runner: JobRunner
    bus: Bus
    publisher: CoalescingPublisher
    hub: Hub
    teller: Teller
    stop: threading.Event = field(default_factory=threading.Event)
    metrics: Metrics = field(default_factory=Metrics)
    scheduler: Scheduler = field(default_factory=Scheduler)
    tracing: Tracing = NO_TRACING

    @property
    def teams(self) -> Teams:
        return Teams(self.service, self.accounts)

    @property
    def schedules(self) -> Schedules:
        return Schedules(self.service)

    def fire_schedules(self) -> int:
        """Start the searches of the schedules due now; how many started."""
        return sum(f.outcome == "fired" for f in self.schedules.tick())

    @property
    def webhooks(self) -> Webhooks:
        return Webhooks(self.service, self.teller)

    def reap(self) -> list[str]:
        return reap(self.store, self.queue.queued_job_ids, self.queue.enqueue,
                    self.settings.heartbeat_timeout_seconds)

    def expire(self) -> int:
        deleted = self.service.delete_expired(utcnow())
        self.metrics.searches_expired_now(deleted)
        return deleted

    def start_worker(self, concurrency: int | None = None) -> None:
        try:
            self.reap()  # reconcile: jobs orphaned while no worker ran
        except Unavailable as exc:
            log.warning("could not look for orphaned jobs yet: %s", exc.message)
        try:
            self.fire_schedules()  # firings missed while no worker ran: run once, or skip
        except Unavailable as exc:
            log.warning("could not look for due schedules yet: %s", exc.message)
        self.runner.set_slots(concurrency or self.settings.worker_concurrency)
        # The consumer's threads only hand jobs to the runner's loop (and make webhook
        # deliveries): a few serve any number of running jobs.
        self.queue.start_consumer(CONSUMER_THREADS)
        self.scheduler.start()

    def stop_worker(self) -> None:
        # Running jobs hand themselves back first, so the graceful join is quick.
        self.runner.halt()
        self.scheduler.stop()
        self.queue.stop_consumer(graceful=True)
        if not self.runner.wait_idle(timeout=self.settings.heartbeat_timeout_seconds):
            log.warning("some jobs did not hand themselves back in time; the reaper will")

    def close(self) -> None:
        self.stop_worker()
        self.runner.close()
        self.queue.close()
        self.teller.close()
        self.publisher.close()
        self.bus.close()
        self.provider.close()
        self.store.close()
        self.metrics.close()
        self.tracing.shutdown()  # last: what closing did is in the trace too


def make_bus(settings: Settings, store: Store, *, embedded_worker: bool) -> Bus:
    """The event bus EVENT_BUS names, or the best one for the backends in use."""
    choice = settings.event_bus
    if choice == "auto":
        if settings.redis_url:
            choice = "redis"
        elif store.engine.dialect.name == "postgresql":
            choice = "postgres"
        else:
            # QStash deliveries run inside web processes; another instance's are seen by the
            # in-process bus's safety poll.
            choice = "inprocess" if embedded_worker or settings.uses_qstash else "poll"
    if choice == "redis":
        if not settings.redis_url:
            raise ConfigError("EVENT_BUS=redis needs REDIS_URL")
        return RedisBus(settings.redis_url)
    if choice == "postgres":
        if store.engine.dialect.name != "postgresql":
            raise ConfigError("EVENT_BUS=postgres needs a PostgreSQL DATABASE_URL")
        return PostgresBus(store.engine)
    if choice == "inprocess":
        return InProcessBus()
    if choice == "poll":
        return PollBus()
    raise ConfigError(f"EVENT_BUS must be auto, inprocess, poll, redis or postgres, not {choice!r}")


def make_tracing(settings: Settings, exporter: SpanExporter | None = None) -> Tracing:
    """OpenTelemetry when an OTLP endpoint is set (or `exporter` is given: tests pass the
    SDK's InMemorySpanExporter) and the SDK is installed; otherwise no tracing at all, and
    nothing of the SDK imported."""
    endpoint = settings.otlp_traces_endpoint()
    if exporter is None and endpoint is None:
        return NO_TRACING
    try:
        from scrapetrack.otel import OtelTracing
    except ImportError as exc:  # the endpoint is set but the extra is not installed
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not "
                    "installed (pip install 'scrapetrack[otel]'): no traces are sent (%s)",
                    exc)
        return NO_TRACING
    return OtelTracing(settings.otel_service_name, endpoint=endpoint, exporter=exporter)


def make_queue(settings: Settings) -> Queue:
    """QStash for QUEUE_URL=qstash, else Huey on the storage QUEUE_URL names."""
    if settings.uses_qstash:
        return QStashQueue(settings)
    return JobQueue(make_huey(settings.queue_url, settings.queue_name))


def make_stream_slots(settings: Settings) -> StreamSlots:
    """The per-user stream cap: in Redis across processes when REDIS_URL is set, else per
    process (a web process owns its streams; its lifespan closes this)."""
    if settings.redis_url and settings.max_streams_per_user:
        return RedisSlots(settings.max_streams_per_user, settings.redis_url,
                          prefix=settings.queue_name)
    return LocalSlots(settings.max_streams_per_user)


def build_runtime(settings: Settings, *, migrate: bool = False, embedded_worker: bool = True,
                  provider: Provider | None = None, bus: Bus | None = None,
                  tracing: Tracing | None = None) -> Runtime:
    queue = make_queue(settings)  # first: a setting it refuses leaves nothing open
    metrics = Metrics(settings.metrics_dir)
    tracing = make_tracing(settings) if tracing is None else tracing
    # Job threads hold a connection only for short transactions, never while waiting on
    # Apify, so a few per process serve many jobs; more would only exhaust PostgreSQL.
    engine = make_engine(settings.database_url,
                         pool_size=min(20, settings.worker_concurrency + 4))
    # Traced only when tracing is on: otherwise the store and provider pay nothing for it.
    store = TracedStore(engine, tracing) if tracing.enabled else Store(engine)
    if migrate:
        upgrade(store.engine)
    bus = bus or make_bus(settings, store, embedded_worker=embedded_worker)
    publisher = CoalescingPublisher(bus)
    token = (settings.apify_token.get_secret_value() if settings.apify_token
             else settings.with_secret_key().sandbox_token())
    provider = provider or ApifyProvider(
        token, settings.resolved_apify_api_url(), max_retries=settings.apify_max_retries,
        request_timeout=timedelta(seconds=settings.apify_timeout_seconds), metrics=metrics)
    if tracing.enabled:
        provider = TracedProvider(provider, tracing)
    stop = threading.Event()
    teller = Teller(settings, store, queue)
    queue.bind_delivery(teller.deliver)
    runner = JobRunner(settings, store, provider, new_worker_id(), publisher=publisher,
                       requeue=queue.enqueue, stop=stop, ended=teller.job_ended,
                       tracing=tracing)
    # Huey's consumer hands a job over and takes the next; a QStash delivery drives its job
    # until it ends or its time budget is up, and answers then.
    queue.bind(runner.run if settings.uses_qstash else runner.take)
    hub = Hub(store, bus, metrics=metrics,
              credential_check_seconds=settings.stream_credential_check_seconds)
    runtime = Runtime(settings=settings, store=store, provider=provider, queue=queue,
                   accounts=Accounts(store),
                   service=Service(settings, store, queue, provider, publisher,
                                   ended=teller.job_ended, tracing=tracing),
                   runner=runner, bus=bus, publisher=publisher,
                   hub=hub, teller=teller, stop=stop, metrics=metrics, tracing=tracing)
    # A third of the heartbeat timeout: an orphan is queued again well within the timeout.
    runtime.scheduler.every(settings.heartbeat_timeout_seconds / 3, "reap", runtime.reap)
    # Schedules fire within about a second of their time (one indexed query when none is due).
    runtime.scheduler.every(1, "schedules", runtime.fire_schedules)
    # Outcomes and deliveries a crash left behind are picked up within this long.
    runtime.scheduler.every(5, "deliveries", teller.sweep)
    if settings.retention_days:
        # Hourly, or sooner for a retention of hours: a search outlives it by a quarter at most.
        runtime.scheduler.every(min(3600.0, settings.retention_days * 86400 / 4), "retention",
                                runtime.expire)
    return runtime
