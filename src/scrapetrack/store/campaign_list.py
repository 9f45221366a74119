"""One creator list per campaign: kept up to date from its searches' creators, queried with
filters, a sort and keyset paging, and worked on by the team (status, note, tags).

A search's page of creators is merged into its campaign's list in the transaction that saves
the page, so the list never lags behind its searches. What a search brings (handle, numbers,
bio) overwrites what an older search brought; what the team wrote (status, note, tags) no
search ever touches: an excluded creator stays excluded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Insert,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrapetrack.exceptions import InputError
from scrapetrack.store import listing
from scrapetrack.store.models import (
    CampaignCreator,
    CampaignCreatorJob,
    CampaignCreatorTag,
    CreatorRow,
    ScrapingJob,
    utcnow,
)
from scrapetrack.store.prepared import DriverStatements

LIST = cast(Table, CampaignCreator.__table__)
FOUND_BY = cast(Table, CampaignCreatorJob.__table__)
TAGS = cast(Table, CampaignCreatorTag.__table__)
CREATORS = cast(Table, CreatorRow.__table__)
JOBS = cast(Table, ScrapingJob.__table__)

WORKFLOW = ("new", "shortlisted", "contacted", "excluded")
EXCLUDED = "excluded"
SORTS: dict[str, ColumnElement[Any]] = {
    "followers": LIST.c.followers, "engagement": LIST.c.engagement_rate,
    "similarity": LIST.c.similarity_score, "newest": LIST.c.id}
# What a missing number sorts as, so that creators without one come last either way.
MISSING_LOW, MISSING_HIGH = -1.0, 1e18


@dataclass(frozen=True, slots=True)
class CreatorFilter:
    platform: str | None = None
    status: str | None = None
    tag: str | None = None
    min_followers: int | None = None
    max_followers: int | None = None
    min_engagement: float | None = None
    verified: bool | None = None
    q: str | None = None
    has_email: bool | None = None
    country: str | None = None
    language: str | None = None


@dataclass(slots=True)
class CreatorPage:
    items: list[CampaignCreator]
    found_by: dict[int, list[str]]  # creator id → the ids of the jobs that found it
    tags: dict[int, list[str]]
    next_cursor: str | None
    total: int


@dataclass(frozen=True, slots=True)
class WorkflowChange:
    """What the team changes on one creator or many; None leaves a field as it is."""

    status: str | None = None
    note: str | None = None
    set_note: bool = False  # the note is replaced, by `note` (None clears it)
    tags: Sequence[str] | None = None  # the whole set, replacing the old one
    add_tags: Sequence[str] = ()
    remove_tags: Sequence[str] = ()


# a search's creators into its campaign's list ---------------------------------------------

def merge(s: Session, statements: DriverStatements, job_id: str, by: str,
          values: Sequence[Any]) -> None:
    """Merge the job's creators whose `by` column (`handle_key`, `id`) is among `values` into
    its campaign's list, and record that this job found them."""
    link_found(s, statements, merged(s, statements, job_id, by, values))


def merged(s: Session, statements: DriverStatements, job_id: str, by: str,
           values: Sequence[Any]) -> list[dict[str, Any]]:
    """`merge` without its record of who found them: those links, for `link_found` (a batch
    of pages writes all its links at once).

    Compiled once per dialect and run as the driver's SQL (see prepared.py): SQLAlchemy's
    compiled cache leaves dialect upserts out, and this runs with every page a worker saves.
    """
    if not values:
        return []
    dialect = s.get_bind().dialect.name
    upsert = statements.prepare(("merge", dialect, by), lambda: _merge_creators(
        dialect, among(dialect, CREATORS.c[by])))
    # The upsert hands back the list's ids, inserted or updated, so the links are written
    # from them rather than found again through a join.
    ids = upsert.execute(s.connection(), {"job": job_id, "now": utcnow(),
                                          "among": among_values(dialect, values)}).scalars()
    return [{"creator_id": i, "job_id": job_id} for i in ids]


def link_found(s: Session, statements: DriverStatements, links: Sequence[dict[str, Any]]
               ) -> None:
    """Record which jobs found which of their campaigns' creators (`merged`'s links)."""
    if not links:
        return
    dialect = s.get_bind().dialect.name
    link = statements.prepare(("found_by", dialect), lambda: _insert(dialect, FOUND_BY)
                              .values(creator_id=bindparam("creator_id"),
                                      job_id=bindparam("job_id"))
                              .on_conflict_do_nothing())
    s.connection().exec_driver_sql(link.sql, link.many(links))


def among_values(dialect: str, values: Sequence[Any]) -> Any:
    """The parameter of `among(dialect, column)` for these values."""
    return list(values) if dialect == "postgresql" else json.dumps(list(values))


def among(dialect: str, column: ColumnElement[Any], name: str = "among") -> ColumnElement[bool]:
    """`column` among the values of parameter `name`: an array on PostgreSQL, a JSON array on
    SQLite (a statement compiled once cannot expand an IN list).

    On PostgreSQL a semi-join on the array's rows, not `= ANY(array)`: the driver prepares a
    statement it runs often, and PostgreSQL's generic plan for it then tests every row of the
    job against the whole array in turn (a constant array is hashed, a parameter is not), so
    each page of a large search cost more than the last."""
    if dialect == "postgresql":
        return column.in_(select(func.unnest(
            bindparam(name, type_=postgresql.ARRAY(column.type)))))
    return column.in_(select(literal_column("value")).select_from(
        func.json_each(bindparam(name, type_=String))))


def _insert(dialect: str, table: Table) -> Any:
    return (sqlite if dialect == "sqlite" else postgresql).insert(table)


def _merge_creators(dialect: str, which: ColumnElement[bool]) -> Insert:
    now = bindparam("now", type_=LIST.c.last_seen_at.type)
    engagement = case((CREATORS.c.engagement_samples > 0,
                       CREATORS.c.engagement_sum / CREATORS.c.engagement_samples))
    # (A WHERE clause is required here: SQLite would read the upsert's ON as the join's.)
    source = select(
        JOBS.c.campaign_id, CREATORS.c.platform, CREATORS.c.handle_key, CREATORS.c.handle,
        CREATORS.c.display_name, CREATORS.c.followers, engagement, CREATORS.c.bio,
        CREATORS.c.profile_url, CREATORS.c.avatar_url, CREATORS.c.verified,
        CREATORS.c.similarity_score, CREATORS.c.emails, CREATORS.c.external_url,
        CREATORS.c.country, CREATORS.c.language, literal("new"), now, now,
    ).join(JOBS, JOBS.c.id == CREATORS.c.job_id).where(
        CREATORS.c.job_id == bindparam("job"), which)
    insert = _insert(dialect, LIST).from_select(
        ["campaign_id", "platform", "handle_key", "handle", "display_name", "followers",
         "engagement_rate", "bio", "profile_url", "avatar_url", "verified",
         "similarity_score", "emails", "external_url", "country", "language", "status",
         "first_seen_at", "last_seen_at"], source)
    new, old = insert.excluded, LIST.c
    newest = {name: func.coalesce(new[name], old[name])
              for name in ("display_name", "followers", "engagement_rate", "bio",
                           "profile_url", "avatar_url", "similarity_score", "emails",
                           "external_url", "country", "language")}
    return cast(Insert, insert.on_conflict_do_update(
        index_elements=[old.campaign_id, old.platform, old.handle_key],
        set_={**newest, "handle": new.handle, "verified": new.verified | old.verified,
              "last_seen_at": new.last_seen_at}).returning(LIST.c.id))


def drop_orphans(s: Session, campaign_ids: Sequence[str]) -> None:
    """Creators whose every search was deleted go with them."""
    s.execute(delete(LIST).where(
        LIST.c.campaign_id.in_(list(campaign_ids)),
        ~select(FOUND_BY.c.creator_id).where(FOUND_BY.c.creator_id == LIST.c.id).exists()))


def not_excluded(campaign_id: Any) -> ColumnElement[bool]:
    """For a search's creators (`creators` rows): the ones its campaign has not excluded."""
    return ~select(LIST.c.id).where(
        LIST.c.campaign_id == campaign_id, LIST.c.platform == CREATORS.c.platform,
        LIST.c.handle_key == CREATORS.c.handle_key, LIST.c.status == EXCLUDED).exists()


# reading the list -------------------------------------------------------------------------

def page(s: Session, campaign_id: str, wanted: CreatorFilter, sort: str, limit: int,
         cursor: str | None) -> CreatorPage:
    """One page of the campaign's list, filtered and sorted, after `cursor` (keyset paging
    on the sort key and the id: a creator found meanwhile never shifts a page)."""
    name, descending = sort.removeprefix("-"), sort.startswith("-")
    column = SORTS[name]
    key = column if name == "newest" else func.coalesce(
        column, MISSING_LOW if descending else MISSING_HIGH)
    where = _conditions(campaign_id, wanted)
    total = s.scalar(select(func.count()).select_from(LIST).where(*where)) or 0
    query = select(CampaignCreator, key.label("sort_key")).where(*where)
    if cursor is not None:
        value, last = _decode(cursor, sort)
        query = query.where(or_(key < value, and_(key == value, LIST.c.id < last))
                            if descending else
                            or_(key > value, and_(key == value, LIST.c.id > last)))
    order = (key.desc(), LIST.c.id.desc()) if descending else (key.asc(), LIST.c.id.asc())
    rows = s.execute(query.order_by(*order).limit(limit + 1)).all()
    items = [row[0] for row in rows[:limit]]
    next_cursor = listing.encode(sort, rows[limit - 1].sort_key, items[-1].id) \
        if len(rows) > limit else None
    found_by, tags = details(s, [item.id for item in items])
    return CreatorPage(items, found_by, tags, next_cursor, total)


def details(s: Session, ids: Sequence[int]) -> tuple[dict[int, list[str]],
                                                       dict[int, list[str]]]:
    """The creators' foundBy (job ids, oldest search first) and tags (sorted)."""
    found_by: dict[int, list[str]] = {i: [] for i in ids}
    tags: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for creator_id, job_id in s.execute(
                select(FOUND_BY.c.creator_id, FOUND_BY.c.job_id)
                .join(JOBS, JOBS.c.id == FOUND_BY.c.job_id)
                .where(FOUND_BY.c.creator_id.in_(ids))
                .order_by(JOBS.c.created_at, JOBS.c.id)):
            found_by[creator_id].append(job_id)
        for creator_id, tag in s.execute(select(TAGS.c.creator_id, TAGS.c.tag).where(
                TAGS.c.creator_id.in_(ids)).order_by(TAGS.c.tag)):
            tags[creator_id].append(tag)
    return found_by, tags


def _conditions(campaign_id: str, wanted: CreatorFilter) -> list[ColumnElement[bool]]:
    where = [LIST.c.campaign_id == campaign_id]
    if wanted.platform is not None:
        where.append(LIST.c.platform == wanted.platform)
    if wanted.status is not None:
        where.append(LIST.c.status == wanted.status)
    if wanted.tag is not None:
        where.append(LIST.c.id.in_(select(TAGS.c.creator_id).where(TAGS.c.tag == wanted.tag)))
    if wanted.min_followers is not None:
        where.append(LIST.c.followers >= wanted.min_followers)
    if wanted.max_followers is not None:
        where.append(LIST.c.followers <= wanted.max_followers)
    if wanted.min_engagement is not None:
        where.append(LIST.c.engagement_rate >= wanted.min_engagement)
    if wanted.verified is not None:
        where.append(LIST.c.verified == wanted.verified)
    if wanted.has_email is not None:
        where.append(LIST.c.emails.isnot(None) if wanted.has_email else LIST.c.emails.is_(None))
    if wanted.country is not None:
        where.append(func.lower(LIST.c.country) == wanted.country.lower())
    if wanted.language is not None:
        where.append(func.lower(LIST.c.language) == wanted.language.lower())
    if wanted.q:
        where.append(listing.contains(wanted.q, LIST.c.handle, LIST.c.display_name,
                                      LIST.c.bio))
    return where


def _decode(cursor: str, sort: str) -> tuple[float, int]:
    made_for, value, creator_id = listing.decode(cursor, 3)
    if made_for != sort:
        raise InputError("cursor belongs to another sort: start again without it")
    if not (isinstance(value, int | float) and not isinstance(value, bool)
            and isinstance(creator_id, int) and not isinstance(creator_id, bool)
            and abs(value) <= MISSING_HIGH and 0 <= creator_id < 2**63):
        raise InputError("cursor is not one this list gave")
    return value, creator_id


# the team's work --------------------------------------------------------------------------

def change(s: Session, campaign_id: str, ids: Sequence[int], what: WorkflowChange) -> list[int]:
    """Apply `what` to those of `ids` in this campaign's list; the ids changed."""
    found = list(s.scalars(select(LIST.c.id).where(
        LIST.c.campaign_id == campaign_id, LIST.c.id.in_(list(ids)))))
    if not found:
        return []
    values: dict[str, Any] = {}
    if what.status is not None:
        values["status"] = what.status
    if what.set_note:
        values["note"] = what.note
    if values:
        s.execute(update(LIST).where(LIST.c.id.in_(found)).values(**values))
    drop = None if what.tags is None else found
    if drop:
        s.execute(delete(TAGS).where(TAGS.c.creator_id.in_(drop)))
    if what.remove_tags:
        s.execute(delete(TAGS).where(TAGS.c.creator_id.in_(found),
                                     TAGS.c.tag.in_(list(what.remove_tags))))
    add = [*(what.tags or ()), *what.add_tags]
    if add:
        dialect = s.get_bind().dialect.name
        s.execute(_insert(dialect, TAGS).on_conflict_do_nothing(),
                  [{"creator_id": i, "tag": tag} for i in found for tag in dict.fromkeys(add)])
    return found
