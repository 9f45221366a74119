"""What a workspace's searches spend in a month, in the database: the monthly budget on the
workspace row, the sums budget.py decides with, and the spend of deleted searches kept in
monthly_spend (so deleting a search gives no budget back)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrapetrack.budget import MonthSpend, month_of
from scrapetrack.jobs import Status
from scrapetrack.store.models import MonthlySpend, ScrapingJob, Workspace, utcnow
from scrapetrack.store.workspaces import Transactions

JOBS = cast(Table, ScrapingJob.__table__)
SPEND = cast(Table, MonthlySpend.__table__)
ACTIVE = [status.value for status in Status if not status.terminal]


def month_spend(s: Session, workspace_id: str, now: datetime) -> MonthSpend:
    """The workspace's month of `now`."""
    cap = s.scalar(select(Workspace.monthly_budget_usd).where(Workspace.id == workspace_id))
    return _sums(s, workspace_id, now, cap)


def locked_month_spend(s: Session, workspace_id: str, now: datetime) -> MonthSpend | None:
    """The same for a search about to start, the workspace's row locked first (PostgreSQL;
    SQLite serialises writers), so searches starting at once in any process are counted one
    after the other; None when the workspace has no budget (no sums to make)."""
    query = select(Workspace.monthly_budget_usd).where(Workspace.id == workspace_id)
    if s.get_bind().dialect.name == "postgresql":
        # FOR NO KEY UPDATE: serialises the searches starting, yet lets rows that refer to
        # the workspace (campaigns, audit entries, deleted spend) be written meanwhile.
        query = query.with_for_update(key_share=True)
    cap = s.scalar(query)
    return None if cap is None else _sums(s, workspace_id, now, cap)


def _sums(s: Session, workspace_id: str, now: datetime, cap: float | None) -> MonthSpend:
    month = month_of(now)
    deleted = s.scalar(select(SPEND.c.deleted_usd).where(
        SPEND.c.workspace_id == workspace_id, SPEND.c.month == month.label)) or 0.0
    cost = func.coalesce(JOBS.c.cost_usd, 0.0)
    # An active search holds its budget until it ends: it may still spend all of it.
    held = case((JOBS.c.status.in_(ACTIVE) & (JOBS.c.budget_usd > cost), JOBS.c.budget_usd),
                else_=cost)
    spent, committed = s.execute(select(
        func.coalesce(func.sum(cost), 0.0), func.coalesce(func.sum(held), 0.0)).where(
        JOBS.c.workspace_id == workspace_id, JOBS.c.created_at >= month.start,
        JOBS.c.created_at < month.end)).one()
    return MonthSpend(workspace_id, month, cap, round(deleted + float(spent), 6),
                      round(deleted + float(committed), 6))


def keep_deleted_spend(s: Session, jobs: ColumnElement[bool]) -> None:
    """Add what the searches about to be deleted (`jobs`, a condition on scraping_jobs)
    cost to their workspaces' months, in the deleting transaction."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for workspace_id, created_at, cost in s.execute(select(
            JOBS.c.workspace_id, JOBS.c.created_at, JOBS.c.cost_usd).where(
            jobs, JOBS.c.cost_usd > 0)):
        totals[workspace_id, month_of(created_at).label] += cost
    if not totals:
        return
    rows: Sequence[dict[str, Any]] = [
        {"workspace_id": w, "month": m, "deleted_usd": usd} for (w, m), usd in totals.items()]
    insert = (sqlite if s.get_bind().dialect.name == "sqlite" else postgresql).insert(SPEND)
    s.execute(insert.on_conflict_do_update(
        index_elements=[SPEND.c.workspace_id, SPEND.c.month],
        set_={"deleted_usd": SPEND.c.deleted_usd + insert.excluded.deleted_usd}), rows)


class Spending:
    """Workspaces' budgets, on the store's engine and transactions."""

    def __init__(self, store: Transactions) -> None:
        self.store = store

    def month(self, workspace_id: str, now: datetime | None = None) -> MonthSpend:
        with self.store.reading() as s:
            return month_spend(s, workspace_id, now or utcnow())

    def set_cap(self, workspace_id: str, monthly_usd: float | None,
                audit: Callable[[Session], None] | None = None) -> MonthSpend:
        """A new monthly budget (None: none), with its audit entry; the month as it now
        stands."""
        with self.store.writing() as s:
            s.execute(update(Workspace).where(Workspace.id == workspace_id)
                      .values(monthly_budget_usd=monthly_usd))
            if audit is not None:
                audit(s)
            return month_spend(s, workspace_id, utcnow())
