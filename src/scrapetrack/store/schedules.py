"""Saved and scheduled searches in the database: the rows, the ones an actor may see, and
the due ones a worker's tick fires.

Firing exactly once rests on two writes, neither a lock: the job's unique
(schedule_id, scheduled_for) claims a firing (Store.create_job), and `advance` moves
`next_fire_at` only from the value its caller read, so two processes that both saw a
firing due move it once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from scrapetrack.access import Actor
from scrapetrack.store.models import Schedule, ScrapingJob, utcnow
from scrapetrack.store.workspaces import Transactions, role_in, visible

# Writes an audit entry in the transaction of what it records (as the Store's Audit).
Audit = Callable[[Session], None]


class ScheduleRows:
    """The `schedules` table, on the store's engine and transactions."""

    def __init__(self, store: Transactions) -> None:
        self.store = store

    def create(self, values: Mapping[str, Any], audit: Audit) -> Schedule:
        with self.store.writing() as s:
            schedule = Schedule(**values)
            s.add(schedule)
            s.flush()
            audit(s)
        return schedule

    def visible_to(self, actor: Actor, *, campaign_id: str | None = None,
                   workspace_id: str | None = None) -> Sequence[Schedule]:
        """The schedules of the actor's workspaces, newest first."""
        query = select(Schedule).where(visible(actor, Schedule.workspace_id))
        if campaign_id is not None:
            query = query.where(Schedule.campaign_id == campaign_id)
        if workspace_id is not None:
            query = query.where(Schedule.workspace_id == workspace_id)
        with self.store.reading() as s:
            return s.scalars(query.order_by(Schedule.created_at.desc(),
                                            Schedule.id.desc())).all()

    def get_for(self, actor: Actor, schedule_id: str) -> tuple[Schedule, str] | None:
        """A schedule of one of the actor's workspaces, and their role there."""
        with self.store.reading() as s:
            row = s.execute(select(Schedule, role_in(actor, Schedule.workspace_id)).where(
                Schedule.id == schedule_id, visible(actor, Schedule.workspace_id))).first()
            return None if row is None else (row[0], row[1])

    def change(self, schedule_id: str, values: Mapping[str, Any],
               audit: Audit) -> Schedule | None:
        """Write the changed fields; the schedule as it now is (None if deleted meanwhile)."""
        with self.store.writing() as s:
            done = s.execute(update(Schedule).where(Schedule.id == schedule_id)
                             .values(**values, updated_at=utcnow()))
            if not done.rowcount:  # type: ignore[attr-defined]
                return None
            audit(s)
            return s.get(Schedule, schedule_id)

    def delete(self, schedule_id: str, audit: Audit) -> bool:
        with self.store.writing() as s:  # its jobs stay, their schedule_id set NULL
            done = s.execute(delete(Schedule).where(Schedule.id == schedule_id))
            if done.rowcount:  # type: ignore[attr-defined]
                audit(s)
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def due(self, now: datetime, limit: int) -> Sequence[Schedule]:
        """Active schedules whose next firing is at or before `now`, the most overdue first
        (an index range scan on (paused, next_fire_at))."""
        with self.store.reading() as s:
            return s.scalars(select(Schedule).where(
                Schedule.paused.is_(False), Schedule.next_fire_at <= now)
                .order_by(Schedule.next_fire_at).limit(limit)).all()

    def advance(self, schedule_id: str, fired_for: datetime, next_fire_at: datetime | None,
                **values: Any) -> bool:
        """Move the next firing on from `fired_for`, with what the firing left (last job,
        error): only if no other process has moved it since (compare-and-set), so doing it
        twice is harmless. Whether this call moved it."""
        with self.store.writing() as s:
            done = s.execute(update(Schedule).where(
                Schedule.id == schedule_id, Schedule.next_fire_at == fired_for)
                .values(next_fire_at=next_fire_at, **values))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def fired_job(self, schedule_id: str, scheduled_for: datetime) -> str | None:
        """The id of the job that a firing started, if one did."""
        with self.store.reading() as s:
            return s.scalar(select(ScrapingJob.id).where(
                ScrapingJob.schedule_id == schedule_id,
                ScrapingJob.scheduled_for == scheduled_for))
