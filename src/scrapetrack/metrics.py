"""Prometheus metrics, safe across processes and machines.

Two kinds, so that any web process answers `/metrics` with the same truth:

- what the store knows is read from it at scrape time (`StoreCollector`): jobs by status,
  items ingested, job duration and pickup latency, the oldest heartbeat of a running job, and
  the queue's depth. Workers on other machines are counted, and nothing is lost when a
  process dies.
- what only a process sees is counted in it (`Metrics`): Apify calls and errors, counted at
  the provider boundary, and open event streams. With `metrics_dir` set (the `serve` and
  `worker` commands set it to `data_dir/metrics`) these go through prometheus_client's
  multi-process mode: each process writes its own memory-mapped file there, and a scrape
  sums the files of every process of the machine, dead ones included for counters, live
  ones only for the stream gauge.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform as python
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, values
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from scrapetrack import __version__, readiness
from scrapetrack.events.base import Bus
from scrapetrack.exceptions import Unavailable
from scrapetrack.jobs import Status
from scrapetrack.store import stats
from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import Store

log = logging.getLogger(__name__)

PREFIX = "scrapetrack"
# A job is minutes of waiting on Apify; pickup is sub-second when a worker is free.
DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
                    7200.0)
PICKUP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Queue(Protocol):
    def pending(self) -> int | None: ...


class Metrics:
    """What one process counts. Built once per runtime; passed to the provider and the hub."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        if directory is not None:
            enable_multiprocess(directory)
        # Multi-process: values live in files and a scrape reads them all, so the instruments
        # belong to no registry. Otherwise this process's registry holds them.
        self.registry = None if directory is not None else CollectorRegistry(auto_describe=True)
        self.apify_requests = Counter(
            f"{PREFIX}_apify_requests", "Calls to the Apify API (each after apify-client's own "
            "retries), by operation", ["operation"], registry=self.registry)
        self.apify_errors = Counter(
            f"{PREFIX}_apify_errors", "Apify calls that failed after retries, by operation "
            "and kind of error", ["operation", "kind"], registry=self.registry)
        self.searches_expired = Counter(
            f"{PREFIX}_searches_expired", "Finished searches deleted for RETENTION_DAYS",
            registry=self.registry)
        self.sse_connections = Gauge(
            f"{PREFIX}_sse_connections", "Event streams open now (summed over the live web "
            "processes of this machine)", registry=self.registry, multiprocess_mode="livesum")

    def apify_request(self, operation: str) -> None:
        self.apify_requests.labels(operation).inc()

    def apify_error(self, operation: str, kind: str) -> None:
        self.apify_errors.labels(operation, kind).inc()

    def searches_expired_now(self, count: int) -> None:
        self.searches_expired.inc(count)

    def stream_opened(self) -> None:
        self.sse_connections.inc()

    def stream_closed(self) -> None:
        self.sse_connections.dec()

    def scrape_registry(self, *collectors: Collector) -> CollectorRegistry:
        """The registry a `/metrics` scrape reads: every process's counters and `collectors`."""
        registry = CollectorRegistry(auto_describe=False)
        if self.directory is not None:
            registry.register(_Files(self.directory))
        else:
            assert self.registry is not None
            registry.register(_Forward(self.registry))
        registry.register(BuildInfo())
        for collector in collectors:
            registry.register(collector)
        return registry

    def close(self) -> None:
        """This process is going: its live gauges stop counting."""
        if self.directory is not None:
            with contextlib.suppress(OSError):
                mark_process_dead(os.getpid(), str(self.directory))  # type: ignore[no-untyped-call]


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def enable_multiprocess(directory: Path) -> None:
    """Switch prometheus_client to files in `directory`, for this whole process.

    prometheus_client picks its value class when first imported, from
    PROMETHEUS_MULTIPROC_DIR; settings are read later than that, so the class is set here.
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    if values.ValueClass is values.MutexValue:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    forget_dead(directory)


def forget_dead(directory: Path) -> None:
    """Remove the live gauges of processes that died without saying so (SIGKILL, or a
    signal re-raised after shutdown)."""
    for path in directory.glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                mark_process_dead(int(pid), str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Files(Collector):
    """The counters every process of the machine wrote, read at each scrape."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = MultiProcessCollector(None, path=str(directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        forget_dead(self.directory)  # a dead process's streams are not open any more
        return self.files.collect()  # type: ignore[no-untyped-call,no-any-return]


class _Forward(Collector):
    """Another registry's metrics, so the scrape registry can hold this process's too."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        return self.source.collect()


class BuildInfo(Collector):
    """`scrapetrack_build_info{version, python} 1`, made at scrape time: once per scrape
    whatever the number of processes (multi-process mode has no Info metric)."""

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(f"{PREFIX}_build_info", "The version running, always 1",
                                 labels=["version", "python"])
        info.add_metric([__version__, python.python_version()], 1)
        yield info


class StoreCollector(Collector):
    """Gauges and histograms read from the store (and the queue) at scrape time, and the
    `*_up` gauges from the same checks as /readyz (readiness.py)."""

    def __init__(self, store: Store, queue: Queue, bus: Bus | None = None) -> None:
        self.store = store
        self.queue = queue
        self.bus = bus

    def collect(self) -> Iterator[Metric]:
        depth: list[int | None] = []  # the queue's check reads its depth: kept, not re-read
        pings = {"store": lambda: readiness.ping_store(self.store),
                 "queue": lambda: depth.append(readiness.ping_queue(self.queue))}
        if self.bus is not None:
            bus = self.bus
            pings["bus"] = lambda: readiness.ping_bus(bus)
        checks = {c.name: c for c in readiness.run_checks(pings)}
        snapshot: stats.Snapshot | None = None
        if checks["store"].ok:
            try:
                snapshot = stats.snapshot(self.store, DURATION_BUCKETS, PICKUP_BUCKETS,
                                          utcnow())
            except Unavailable as exc:  # it went away since the check: down, as /readyz says
                checks["store"] = readiness.Check("store", exc.message)
        for check in checks.values():
            if not check.ok:
                log.warning("metrics: %s down: %s", check.name, check.reason)
        yield _up("store", "the database", checks["store"])
        if snapshot is not None:
            yield from self._from_store(snapshot)
        yield _up("queue", "the queue", checks["queue"])
        if checks["queue"].ok and depth and depth[0] is not None:  # QStash does not tell
            gauge = GaugeMetricFamily(f"{PREFIX}_queue_depth",
                                      "Tasks waiting in the queue for a free worker")
            gauge.add_metric([], depth[0])
            yield gauge
        if "bus" in checks:
            yield _up("bus", "the event bus (Redis, PostgreSQL; always 1 in-process)",
                      checks["bus"])

    def _from_store(self, snapshot: stats.Snapshot) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(f"{PREFIX}_jobs", "Jobs by status", labels=["status"])
        for status in Status:
            jobs.add_metric([status.value], snapshot.jobs_by_status.get(status.value, 0))
        yield jobs
        items = CounterMetricFamily(f"{PREFIX}_items_ingested",
                                    "Dataset items read and saved, by platform",
                                    labels=["platform"])
        skipped = CounterMetricFamily(f"{PREFIX}_items_skipped",
                                      "Dataset items that held no creator, by platform",
                                      labels=["platform"])
        for platform, (ingested, skips) in sorted(snapshot.items_by_platform.items()):
            items.add_metric([platform], ingested)
            skipped.add_metric([platform], skips)
        yield items
        yield skipped
        cost = CounterMetricFamily(f"{PREFIX}_apify_cost_usd",
                                   "What the jobs' Apify runs cost (their usageTotalUsd), by "
                                   "platform", labels=["platform"])
        for platform, usd in sorted(snapshot.cost_by_platform.items()):
            cost.add_metric([platform], usd)
        yield cost
        yield _histogram(f"{PREFIX}_job_duration_seconds",
                         "Time from a job's start to its end, by final status",
                         snapshot.durations, label="status")
        yield _histogram(f"{PREFIX}_job_pickup_latency_seconds",
                         "Time from a job's creation to a worker claiming it",
                         {"": snapshot.pickup})
        age = GaugeMetricFamily(
            f"{PREFIX}_oldest_heartbeat_age_seconds",
            "Age of the oldest heartbeat among running jobs (0 when none runs); above "
            "HEARTBEAT_TIMEOUT_SECONDS a worker is gone and the reaper takes its jobs over")
        oldest: timedelta | None = snapshot.oldest_heartbeat_age
        age.add_metric([], max(0.0, oldest.total_seconds()) if oldest is not None else 0.0)
        yield age


def _up(name: str, what: str, check: readiness.Check) -> GaugeMetricFamily:
    up = GaugeMetricFamily(f"{PREFIX}_{name}_up",
                           f"1 if {what} answered this scrape (as /readyz checks), else 0")
    up.add_metric([], 1 if check.ok else 0)
    return up


def _histogram(name: str, documentation: str, series: dict[str, stats.Histogram],
               label: str | None = None) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=[label] if label else None)
    for value, histogram in sorted(series.items()):
        buckets = [(_le(bound), count) for bound, count in histogram.buckets]
        buckets.append(("+Inf", histogram.count))
        family.add_metric([value] if label else [], buckets, histogram.total)
    return family


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{bound:.1f}"
