"""A user's searches across campaigns, newest first: filtered, and paged by keyset cursor
(creation time and id), so a search started meanwhile never shifts a page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, or_, select
from sqlalchemy.orm import Session

from scrapetrack.exceptions import InputError
from scrapetrack.store import listing
from scrapetrack.store.models import ScrapingJob


@dataclass(frozen=True, slots=True)
class JobFilter:
    status: str | None = None
    platform: str | None = None
    kind: str | None = None
    campaign_id: str | None = None
    workspace_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None  # text in the keywords or the similar search's handle


def page(s: Session, whose: ColumnElement[bool], wanted: JobFilter, limit: int,
         cursor: str | None) -> tuple[Sequence[ScrapingJob], str | None]:
    """A page of the searches `whose` allows (the actor's workspaces'), newest first, and
    the cursor of the next one."""
    job = ScrapingJob
    query = select(job).where(whose, *_conditions(wanted))
    if cursor is not None:
        when, last = _decode(cursor)
        query = query.where(or_(job.created_at < when,
                                and_(job.created_at == when, job.id < last)))
    rows = s.scalars(query.order_by(job.created_at.desc(), job.id.desc())
                     .limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    last_row = rows[limit - 1]
    return rows[:limit], listing.encode(last_row.created_at.isoformat(), last_row.id)


def _conditions(wanted: JobFilter) -> list[Any]:
    job = ScrapingJob
    where: list[Any] = []
    for column, value in ((job.status, wanted.status), (job.platform, wanted.platform),
                          (job.kind, wanted.kind), (job.campaign_id, wanted.campaign_id),
                          (job.workspace_id, wanted.workspace_id)):
        if value is not None:
            where.append(column == value)
    if wanted.created_from is not None:
        where.append(job.created_at >= wanted.created_from)
    if wanted.created_to is not None:
        where.append(job.created_at < wanted.created_to)
    if wanted.q:
        where.append(listing.contains(wanted.q, cast(job.keywords, String),
                                      job.target_username))
    return where


def _decode(cursor: str) -> tuple[datetime, str]:
    when, job_id = listing.decode(cursor, 2)
    try:
        if not isinstance(when, str) or not isinstance(job_id, str) or len(job_id) > 64:
            raise ValueError
        return datetime.fromisoformat(when), job_id
    except ValueError:
        raise InputError("cursor is not one this list gave") from None
