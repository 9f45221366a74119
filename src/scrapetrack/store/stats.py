"""Aggregates over the jobs table for `/metrics`: a handful of queries, whatever the number of
jobs, with the histograms bucketed by the database rather than by reading every row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, func, select

from scrapetrack.jobs import Status
from scrapetrack.store.models import ScrapingJob
from scrapetrack.store.repository import Store


@dataclass(frozen=True, slots=True)
class Histogram:
    buckets: tuple[tuple[float, int], ...]  # (upper bound, cumulative count)
    count: int
    total: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    jobs_by_status: dict[str, int]
    items_by_platform: dict[str, tuple[int, int]]  # platform: (items read, items skipped)
    cost_by_platform: dict[str, float]  # what the jobs' Apify runs cost, in USD
    durations: dict[str, Histogram]  # final status: start → end
    pickup: Histogram  # created → first claimed
    oldest_heartbeat_age: timedelta | None
    taken_at: datetime = field(compare=False, default_factory=datetime.now)


def seconds_between(start: Any, end: Any, dialect: str) -> ColumnElement[float]:
    """`end - start` in seconds, as this database computes it."""
    if dialect == "sqlite":  # datetimes are text there; julianday() reads them as days
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(func.extract("epoch", end - start), Float)


def snapshot(store: Store, duration_buckets: Sequence[float], pickup_buckets: Sequence[float],
             now: datetime) -> Snapshot:
    job = ScrapingJob
    with store.reading() as s:
        dialect = s.get_bind().dialect.name
        by_status = {str(status): int(count) for status, count in s.execute(
            select(job.status, func.count()).group_by(job.status))}
        items: dict[str, tuple[int, int]] = {}
        costs: dict[str, float] = {}
        for platform, read, skipped, cost in s.execute(
                select(job.platform, func.sum(job.items_offset), func.sum(job.skipped_items),
                       func.sum(job.cost_usd)).group_by(job.platform)):
            items[str(platform)] = (int(read or 0), int(skipped or 0))
            costs[str(platform)] = float(cost or 0.0)
        duration = seconds_between(job.started_at, job.finished_at, dialect)
        durations = {}
        for row in s.execute(_bucketed(duration, duration_buckets, job.status).where(
                job.finished_at.is_not(None), job.started_at.is_not(None))
                .group_by(job.status)):
            durations[str(row[0])] = _histogram(row[1:], duration_buckets)
        pickup = seconds_between(job.created_at, job.started_at, dialect)
        pickup_row = s.execute(_bucketed(pickup, pickup_buckets).where(
            job.started_at.is_not(None))).one()
        oldest = s.scalar(select(func.min(job.heartbeat_at)).where(
            job.status == Status.PROCESSING))
    if isinstance(oldest, str):  # SQLite: an aggregate skips the column's type
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return Snapshot(jobs_by_status=by_status, items_by_platform=items,
                    cost_by_platform=costs, durations=durations,
                    pickup=_histogram(tuple(pickup_row), pickup_buckets),
                    oldest_heartbeat_age=now - oldest if oldest is not None else None)


def _bucketed(value: ColumnElement[float], bounds: Sequence[float],
              *group: Any) -> Any:
    """SELECT [group,] count, sum, then one cumulative count per bucket bound."""
    return select(*group, func.count(), func.coalesce(func.sum(value), 0.0),
                  *[func.coalesce(func.sum(case((value <= bound, 1), else_=0)), 0)
                    for bound in bounds])


def _histogram(row: Sequence[Any], bounds: Sequence[float]) -> Histogram:
    count, total, *cumulative = row
    return Histogram(buckets=tuple((bound, int(n)) for bound, n in zip(bounds, cumulative,
                                                                       strict=True)),
                     count=int(count), total=float(total))
