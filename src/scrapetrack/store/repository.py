"""Every query the service and the worker make, in short transactions.

Rows come back detached (expire_on_commit=False) so callers can read them freely. Worker writes
are guarded by status and worker id: a worker that lost its job (taken over, cancelled) gets
None back and writes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Insert,
    Integer,
    Select,
    String,
    Table,
    Update,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker

from scrapetrack.access import Actor
from scrapetrack.budget import MonthSpend
from scrapetrack.creators import Creator
from scrapetrack.exceptions import AlreadyFired, StoreUnavailable
from scrapetrack.jobs import JobRecord, Status
from scrapetrack.store import campaign_list, search_history
from scrapetrack.store.campaign_list import CreatorFilter, CreatorPage, WorkflowChange
from scrapetrack.store.db import reader, writer
from scrapetrack.store.models import (
    ApiToken,
    Campaign,
    CampaignCreator,
    CreatorRow,
    JobOutcome,
    Member,
    QStashDelivery,
    ScrapingJob,
    User,
    Workspace,
    new_id,
    utcnow,
)
from scrapetrack.store.prepared import DriverStatements
from scrapetrack.store.search_history import JobFilter
from scrapetrack.store.spend import keep_deleted_spend, locked_month_spend
from scrapetrack.store.workspaces import MEMBERSHIP, live_memberships, role_in, visible

# Writes an audit entry in the transaction of what it records.
Audit = Callable[[Session], None]
CHUNK = 500  # ids per IN (...) list
ACTIVE = [status.value for status in Status if not status.terminal]
RATE_WINDOW = timedelta(minutes=1)
JOBS = cast(Table, ScrapingJob.__table__)
CREATORS = cast(Table, CreatorRow.__table__)
USERS = cast(Table, User.__table__)
TOKENS = cast(Table, ApiToken.__table__)
TOKEN_OWNER = select(USERS, TOKENS.c.id.label("token_id"), TOKENS.c.expires_at,
                     TOKENS.c.workspace_id.label("token_workspace"),
                     ).join(TOKENS, TOKENS.c.user_id == USERS.c.id).where(
    TOKENS.c.token_hash == bindparam("hash"), TOKENS.c.kind == bindparam("kind"),
    TOKENS.c.revoked_at.is_(None))
# A job is the token's user's when its workspace is one of theirs (and the token's own, if
# the token is limited to one).
MEMBERS = cast(Table, Member.__table__)
TOKEN_JOB = select(
    JOBS, TOKENS.c.id.label("token_id"), TOKENS.c.expires_at.label("token_expires_at"),
    ).select_from(TOKENS.outerjoin(
        JOBS, (JOBS.c.id == bindparam("job")) & select(MEMBERS.c.role).where(
            MEMBERS.c.workspace_id == JOBS.c.workspace_id,
            MEMBERS.c.user_id == TOKENS.c.user_id).exists() & (
            TOKENS.c.workspace_id.is_(None) | (TOKENS.c.workspace_id == JOBS.c.workspace_id)))
    ).where(TOKENS.c.token_hash == bindparam("hash"), TOKENS.c.kind == "api",
            TOKENS.c.revoked_at.is_(None))


def _readable(workspace: Any) -> ColumnElement[bool]:
    """`workspace` (a column) is one of user :user's, and :scope's if that is not NULL."""
    return select(MEMBERS.c.role).where(
        MEMBERS.c.workspace_id == workspace, MEMBERS.c.user_id == bindparam("user"),
        func.coalesce(bindparam("scope", type_=String), workspace) == workspace).exists()


JOB_STATE = select(JOBS).where(JOBS.c.id == bindparam("id"), _readable(JOBS.c.workspace_id))
CAMPAIGNS = cast(Table, Campaign.__table__)
# A campaign's workspace and its jobs (none: one row of NULL job columns), newest first.
CAMPAIGN_STATE = select(CAMPAIGNS.c.workspace_id.label("campaign_workspace"), JOBS).select_from(
    CAMPAIGNS.outerjoin(JOBS, JOBS.c.campaign_id == CAMPAIGNS.c.id)).where(
    CAMPAIGNS.c.id == bindparam("campaign"), _readable(CAMPAIGNS.c.workspace_id)).order_by(
    JOBS.c.created_at.desc())

class PageWrite(NamedTuple):
    """One page of a job's items to save (Store.ingest's arguments)."""

    job_id: str
    worker_id: str
    from_offset: int
    to_offset: int
    creators: Sequence[Creator]
    skipped: int
    progress: int
    rate_per_second: float | None
    processed: int | None = None
    values: Mapping[str, Any] | None = None


def job_states_select(ids: int, campaigns: int) -> Select[Any]:
    """The jobs among `ids` ids, and those of `campaigns` campaigns (binds i0…, c0…)."""
    wanted = []
    if ids:
        wanted.append(JOBS.c.id.in_([bindparam(f"i{k}") for k in range(ids)]))
    if campaigns:
        wanted.append(JOBS.c.campaign_id.in_([bindparam(f"c{k}") for k in range(campaigns)]))
    return select(JOBS).where(or_(*wanted))


def _padded(prefix: str, values: Sequence[str]) -> tuple[int, dict[str, str]]:
    """A power-of-two count of binds, the last value repeated: few statements to prepare."""
    if not values:
        return 0, {}
    size = 1 << (len(values) - 1).bit_length()
    return size, {f"{prefix}{k}": values[min(k, len(values) - 1)] for k in range(size)}


class TokenOwner(NamedTuple):
    user: User
    token_id: str
    workspace_id: str | None  # the one workspace the token acts in, if it is limited
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobCounts:
    """A user's jobs as a new one is about to be written, and its workspace's month."""

    now: datetime
    active: int  # pending or processing
    created_recently: list[datetime]  # within RATE_WINDOW, newest first
    spend: MonthSpend | None = None  # None: the workspace has no monthly budget


@contextmanager
def _unavailable_as_ours() -> Iterator[None]:
    """A lost connection (the server restarting, the network) is ours to retry; a broken
    query is a bug and stays as it is."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"The database is unavailable: {exc.orig or exc}".strip()) \
            from exc


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read = sessionmaker(reader(engine), expire_on_commit=False)
        self._fast = DriverStatements(engine)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    @property
    def local(self) -> bool:
        """A file on this machine (SQLite), not a server across a network."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with _unavailable_as_ours(), self._read() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        with _unavailable_as_ours(), self._write.begin() as session:
            yield session

    def close(self) -> None:
        self._fast.close()
        self.engine.dispose()

    # users and tokens -------------------------------------------------------------------
    def create_user(self, email: str) -> User:
        """A user with their personal workspace (its id is theirs), owned by them."""
        with self.writing() as s:
            user = User(id=new_id(), email=email)
            s.add(user)
            s.flush()
            s.add(Workspace(id=user.id, name="Personal", personal_of=user.id))
            s.flush()
            s.add(Member(workspace_id=user.id, user_id=user.id, role="owner"))
        return user

    def user_by_email(self, email: str) -> User | None:
        with self.reading() as s:
            return s.scalar(select(User).where(User.email == email))

    def user_by_id(self, user_id: str) -> User | None:
        with self.reading() as s:
            return s.get(User, user_id)

    def list_users(self) -> Sequence[User]:
        with self.reading() as s:
            return s.scalars(select(User).order_by(User.created_at)).all()

    def add_token(self, user_id: str, token_hash: str, prefix: str, kind: str,
                  expires_at: datetime | None = None,
                  workspace_id: str | None = None) -> ApiToken:
        with self.writing() as s:
            token = ApiToken(user_id=user_id, token_hash=token_hash, prefix=prefix, kind=kind,
                             expires_at=expires_at, workspace_id=workspace_id)
            s.add(token)
        return token

    def user_for_token(self, token_hash: str, now: datetime) -> TokenOwner | None:
        """The owner of a live API token, the token's id, the workspace it is limited to and
        when it expires (the hot path: one cached Core query, no ORM)."""
        row = self._fast.first(self._fast.prepare("token_owner", lambda: TOKEN_OWNER),
                               {"hash": token_hash, "kind": "api"})
        if row is None or (row.expires_at is not None and row.expires_at <= now):
            return None
        return TokenOwner(User(id=row.id, email=row.email, created_at=row.created_at),
                          row.token_id, row.token_workspace, row.expires_at)

    def job_state_for_token(self, token_hash: str, job_id: str,
                            now: datetime) -> tuple[str | None, JobRecord | None]:
        """The original design's status poll in one statement: the API token's id while it
        is live (else None), and its owner's job `job_id` as a plain row (None when they
        have no such job)."""
        row = self._fast.first(self._fast.prepare("token_job", lambda: TOKEN_JOB),
                               {"hash": token_hash, "job": job_id})
        if row is None or (row.token_expires_at is not None and row.token_expires_at <= now):
            return None, None
        return row.token_id, (cast(JobRecord, row) if row.id is not None else None)

    def note_token_uses(self, uses: Mapping[str, datetime]) -> None:
        """When API tokens were last used, one statement per CHUNK of them; a later time
        already written (by another web process) stays."""
        items = sorted(uses.items())
        with self.writing() as s:
            for start in range(0, len(items), CHUNK):
                chunk = dict(items[start:start + CHUNK])
                used = case({token_id: literal(at, TOKENS.c.last_used_at.type)
                             for token_id, at in chunk.items()}, value=TOKENS.c.id)
                s.execute(update(TOKENS).where(
                    TOKENS.c.id.in_(list(chunk)), TOKENS.c.kind == "api",
                    TOKENS.c.last_used_at.is_(None) | (TOKENS.c.last_used_at < used))
                    .values(last_used_at=used))

    def token_owner(self, token_hash: str, kind: str,
                    now: datetime) -> tuple[ApiToken, User] | None:
        """A live token and its owner; a login code is spent by this call."""
        with self.reading() as s:
            token = s.scalar(select(ApiToken).where(
                ApiToken.token_hash == token_hash, ApiToken.kind == kind,
                ApiToken.revoked_at.is_(None)))
            if token is None or (token.expires_at is not None and token.expires_at <= now):
                return None
            if kind == "login" and token.last_used_at is not None:
                return None  # a code works once
            user = s.get(User, token.user_id)
        if user is None:
            return None
        if kind != "login":
            return token, user
        with self.writing() as s:  # spent once: a second redeemer meanwhile gets nothing
            done = s.execute(update(ApiToken).where(
                ApiToken.id == token.id, ApiToken.last_used_at.is_(None),
                ApiToken.revoked_at.is_(None)).values(last_used_at=now))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return None
        return token, user

    def code_owner(self, token_hash: str, now: datetime) -> User | None:
        """The user a live, unspent login code would sign in, without spending it."""
        with self.reading() as s:
            return s.scalar(select(User).join(ApiToken, ApiToken.user_id == User.id).where(
                ApiToken.token_hash == token_hash, ApiToken.kind == "login",
                ApiToken.revoked_at.is_(None), ApiToken.last_used_at.is_(None),
                ApiToken.expires_at > now))

    def session_user(self, user_id: str, session_id: str, token_id: str,
                     now: datetime) -> tuple[User, str | None, datetime | None] | None:
        """The user of a browser session while the session stands (not signed out, revoked
        or expired) and so does the token or code that opened it (a spent login code still
        backs its session); the workspace the session is limited to, as its opener is; and
        when the first of the two expires."""
        session, opener = aliased(ApiToken), aliased(ApiToken)
        with self.reading() as s:
            row = s.execute(select(User, session.workspace_id, session.expires_at,
                                   opener.expires_at, opener.kind)
                            .join(session, session.user_id == User.id)
                            .join(opener, opener.user_id == User.id).where(
                User.id == user_id, session.id == session_id, session.kind == "session",
                session.revoked_at.is_(None), session.expires_at > now,
                opener.id == token_id, opener.revoked_at.is_(None),
                (opener.kind == "login") | opener.expires_at.is_(None)
                | (opener.expires_at > now))).first()
        if row is None:
            return None
        user, workspace_id, expires_at, opener_expires_at, opener_kind = row
        ends = [expires_at, None if opener_kind == "login" else opener_expires_at]
        return user, workspace_id, min((end for end in ends if end is not None), default=None)

    def live_credentials(self, ids: Iterable[str], now: datetime) -> set[str]:
        """Which of these tokens, codes and sessions still stand (a removed user's are gone
        with them), and which of these memberships (see workspaces.membership)."""
        wanted = set(ids)
        members = {key for key in wanted if key.startswith(MEMBERSHIP)}
        tokens = list(wanted - members)
        if not wanted:
            return set()
        with self.reading() as s:
            return live_memberships(s, sorted(members)) | set(s.scalars(
                select(ApiToken.id).where(
                    ApiToken.id.in_(tokens), ApiToken.revoked_at.is_(None),
                    (ApiToken.kind == "login") | ApiToken.expires_at.is_(None)
                    | (ApiToken.expires_at > now))) if tokens else [])

    def delete_user(self, user_id: str) -> bool:
        """Remove a user with their tokens, sessions and personal workspace (its campaigns,
        jobs and creators); shared workspaces keep what they made, without its maker."""
        with self.writing() as s:  # the database cascades (foreign keys ON on SQLite)
            done = s.execute(delete(User).where(User.id == user_id))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def delete_campaign(self, campaign_id: str, audit: Audit | None = None) -> bool:
        """Remove a campaign with its searches, their creators and its creator list."""
        with self.writing() as s:  # the database cascades
            keep_deleted_spend(s, JOBS.c.campaign_id == campaign_id)
            done = s.execute(delete(Campaign).where(Campaign.id == campaign_id))
            if done.rowcount and audit is not None:  # type: ignore[attr-defined]
                audit(s)
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def delete_jobs(self, job_ids: Sequence[str], audit: Audit | None = None) -> list[str]:
        """Remove searches with their creators; creators of their campaigns' lists that no
        other search found go too. The ids removed."""
        with self.writing() as s:
            found = s.execute(select(JOBS.c.id, JOBS.c.campaign_id).where(
                JOBS.c.id.in_(list(job_ids)))).all()
            if found:
                keep_deleted_spend(s, JOBS.c.id.in_([row.id for row in found]))
                s.execute(delete(JOBS).where(JOBS.c.id.in_([row.id for row in found])))
                campaign_list.drop_orphans(s, sorted({row.campaign_id for row in found}))
                if audit is not None:
                    audit(s)
            return [row.id for row in found]

    def finished_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Up to `limit` ids of searches that ended before `cutoff`, oldest first."""
        with self.reading() as s:
            return list(s.scalars(select(JOBS.c.id).where(
                JOBS.c.status.notin_(ACTIVE), JOBS.c.finished_at < cutoff)
                .order_by(JOBS.c.finished_at).limit(limit)))

    def tokens(self, user_id: str | None = None) -> Sequence[tuple[ApiToken, str]]:
        """Tokens and codes with their owner's email, oldest first."""
        with self.reading() as s:
            query = select(ApiToken, User.email).join(User, User.id == ApiToken.user_id)
            if user_id is not None:
                query = query.where(ApiToken.user_id == user_id)
            rows = s.execute(query.order_by(ApiToken.created_at, ApiToken.id)).all()
            return [(row[0], row[1]) for row in rows]

    def revoke_tokens(self, token_ids: Sequence[str], now: datetime) -> int:
        """Revoke the tokens named that are not revoked yet; how many were."""
        if not token_ids:
            return 0
        with self.writing() as s:
            done = s.execute(update(ApiToken).where(
                ApiToken.id.in_(list(token_ids)), ApiToken.revoked_at.is_(None))
                .values(revoked_at=now))
            return int(done.rowcount)  # type: ignore[attr-defined]

    # QStash deliveries ----------------------------------------------------------------------
    def claim_delivery(self, keys: Sequence[str], expires_at: datetime) -> bool:
        """Note a delivery as being handled, under each of its keys, until `expires_at`;
        False (nothing noted) when one of them was noted before and has not expired. Lapsed
        notes are dropped on the way."""
        now = utcnow()
        try:
            with self.writing() as s:
                s.execute(delete(QStashDelivery).where(QStashDelivery.expires_at <= now))
                s.add_all(QStashDelivery(key=key, expires_at=expires_at) for key in keys)
        except IntegrityError:
            return False
        return True

    def release_delivery(self, keys: Sequence[str]) -> None:
        """Forget a delivery that failed, so QStash's retry of it runs."""
        with self.writing() as s:
            s.execute(delete(QStashDelivery).where(QStashDelivery.key.in_(list(keys))))

    # campaigns ----------------------------------------------------------------------------
    def create_campaign(self, user_id: str, name: str, description: str | None,
                        check: Callable[[datetime, list[datetime]], None] | None = None,
                        audit: Audit | None = None, *, workspace_id: str | None = None,
                        campaign_id: str | None = None) -> Campaign:
        """Insert a campaign. `check` sees the creation times of the user's campaigns of the
        last minute, newest first, in the same transaction (the user's row locked first on
        PostgreSQL), and may raise to refuse it."""
        with self.writing() as s:
            if check is not None:
                if s.get_bind().dialect.name == "postgresql":  # NO KEY UPDATE: see _job_counts
                    s.execute(select(User.id).where(User.id == user_id)
                              .with_for_update(key_share=True))
                now = utcnow()
                check(now, list(s.scalars(select(Campaign.created_at).where(
                    Campaign.user_id == user_id, Campaign.created_at > now - RATE_WINDOW)
                    .order_by(Campaign.created_at.desc()))))
            # By default in the user's personal workspace, whose id is theirs.
            campaign = Campaign(id=campaign_id or new_id(), user_id=user_id,
                                workspace_id=workspace_id or user_id, name=name,
                                description=description)
            s.add(campaign)
            if audit is not None:
                audit(s)
        return campaign

    def list_campaigns(self, actor: Actor, workspace_id: str | None = None,
                       ) -> Sequence[Campaign]:
        """The actor's campaigns (in one of their workspaces), newest first."""
        query = select(Campaign).where(visible(actor, Campaign.workspace_id))
        if workspace_id is not None:
            query = query.where(Campaign.workspace_id == workspace_id)
        with self.reading() as s:
            return s.scalars(query.order_by(Campaign.created_at.desc())).all()

    def get_campaign(self, actor: Actor, campaign_id: str) -> tuple[Campaign, str] | None:
        """A campaign of one of the actor's workspaces, and their role there."""
        with self.reading() as s:
            row = s.execute(select(Campaign, role_in(actor, Campaign.workspace_id)).where(
                Campaign.id == campaign_id, visible(actor, Campaign.workspace_id))).first()
            return None if row is None else (row[0], row[1])

    # jobs ---------------------------------------------------------------------------------
    def create_job(self, check: Callable[[JobCounts], Mapping[str, Any] | None] | None = None,
                   audit: Audit | None = None, **values: Any) -> ScrapingJob:
        """Insert a job. `check` sees the user's counts and the workspace's month in the
        same transaction and may raise to refuse it, or return changes to the job's values
        (its budget): the user's row, then the workspace's, are locked first, so concurrent
        creations in any process are counted one after the other (SQLite serialises writers
        anyway)."""
        try:
            with self.writing() as s:
                if check is not None:
                    values.update(check(self._job_counts(
                        s, values["user_id"], values.get("workspace_id"))) or {})
                if "workspace_id" not in values:  # the campaign's
                    values["workspace_id"] = s.scalar(select(Campaign.workspace_id).where(
                        Campaign.id == values["campaign_id"]))
                job = ScrapingJob(**values)
                s.add(job)
                s.flush()
                if audit is not None:
                    audit(s)
        except IntegrityError:
            if values.get("schedule_id") is None:
                raise
            # (schedule_id, scheduled_for) is unique: another process started this firing.
            raise AlreadyFired() from None
        return job

    def audit(self, entry: Audit) -> None:
        """An audit entry in a transaction of its own."""
        with self.writing() as s:
            entry(s)

    @staticmethod
    def _job_counts(s: Session, user_id: str, workspace_id: str | None = None) -> JobCounts:
        if s.get_bind().dialect.name == "postgresql":
            # NO KEY UPDATE: serializes this user's starts, but not against the workers'
            # writes, whose foreign keys take KEY SHARE on the same row.
            s.execute(select(User.id).where(User.id == user_id)
                      .with_for_update(key_share=True))
        now = utcnow()
        spend = None if workspace_id is None else locked_month_spend(s, workspace_id, now)
        active = s.scalar(select(func.count()).select_from(ScrapingJob).where(
            ScrapingJob.user_id == user_id, ScrapingJob.status.in_(ACTIVE))) or 0
        recent = s.scalars(select(ScrapingJob.created_at).where(
            ScrapingJob.user_id == user_id, ScrapingJob.created_at > now - RATE_WINDOW)
            .order_by(ScrapingJob.created_at.desc())).all()
        return JobCounts(now=now, active=active, created_recently=list(recent), spend=spend)

    def get_job(self, job_id: str) -> ScrapingJob | None:
        with self.reading() as s:
            return s.get(ScrapingJob, job_id)

    def job_for(self, actor: Actor, job_id: str) -> tuple[ScrapingJob, str] | None:
        """A job of one of the actor's workspaces, and their role there."""
        with self.reading() as s:
            row = s.execute(select(ScrapingJob, role_in(actor, ScrapingJob.workspace_id))
                            .where(ScrapingJob.id == job_id,
                                   visible(actor, ScrapingJob.workspace_id))).first()
            return None if row is None else (row[0], row[1])

    def job_state(self, job_id: str, actor: Actor) -> JobRecord | None:
        """A job of the actor's as a plain row: what status polling reads, without the ORM."""
        return cast(JobRecord | None, self._fast.first(
            self._fast.prepare("job_state", lambda: JOB_STATE),
            {"id": job_id, "user": actor.id, "scope": actor.workspace_id}))

    def campaign_state(self, campaign_id: str,
                       actor: Actor) -> tuple[str, list[JobRecord]] | None:
        """A campaign of the actor's: its workspace and its jobs as plain rows, newest first,
        in one statement (what a campaign's event stream starts from); None if it is none
        of theirs."""
        rows = self._fast.all(self._fast.prepare("campaign_state", lambda: CAMPAIGN_STATE),
                              {"campaign": campaign_id, "user": actor.id,
                               "scope": actor.workspace_id})
        if not rows:
            return None
        return rows[0].campaign_workspace, [row for row in rows if row.id is not None]

    def campaign_jobs(self, campaign_id: str) -> Sequence[ScrapingJob]:
        with self.reading() as s:
            return s.scalars(select(ScrapingJob).where(ScrapingJob.campaign_id == campaign_id)
                             .order_by(ScrapingJob.created_at.desc())).all()

    def workspace_jobs(self, workspace_id: str, *, status: str | None = None,
                       campaign_id: str | None = None,
                       limit: int = 50) -> Sequence[ScrapingJob]:
        """A workspace's jobs, newest first."""
        query = select(ScrapingJob).where(ScrapingJob.workspace_id == workspace_id)
        if status is not None:
            query = query.where(ScrapingJob.status == status)
        if campaign_id is not None:
            query = query.where(ScrapingJob.campaign_id == campaign_id)
        with self.reading() as s:
            return s.scalars(query.order_by(ScrapingJob.created_at.desc()).limit(limit)).all()

    def search_history(self, actor: Actor, wanted: JobFilter, limit: int,
                       cursor: str | None) -> tuple[Sequence[ScrapingJob], str | None]:
        with self.reading() as s:
            return search_history.page(s, visible(actor, JOBS.c.workspace_id), wanted, limit,
                                       cursor)

    def job_states(self, job_ids: Sequence[str],
                   campaign_ids: Sequence[str] = ()) -> list[JobRecord]:
        """The jobs named, and every job of the campaigns named, as whole rows."""
        return self._job_rows(job_ids, campaign_ids)

    def _job_rows(self, job_ids: Sequence[str], campaign_ids: Sequence[str]) -> list[Any]:
        """One prepared query per chunk of ids and campaigns."""
        rows: list[Any] = []
        for start in range(0, max(len(job_ids), len(campaign_ids)), CHUNK):
            ids, id_values = _padded("i", job_ids[start:start + CHUNK])
            campaigns, campaign_values = _padded("c", campaign_ids[start:start + CHUNK])
            prepared = self._fast.prepare(
                ("job_states", ids, campaigns),
                functools.partial(job_states_select, ids, campaigns))
            rows.extend(self._fast.all(prepared, id_values | campaign_values))
        return rows

    def orphans(self, stale_before: datetime, pending_before: datetime,
                now: datetime) -> list[str]:
        """Jobs no live worker is running: processing with a stale heartbeat, or pending
        since before `pending_before` (their queue entry may be gone) and due by `now`."""
        with self.reading() as s:
            return list(s.scalars(select(ScrapingJob.id).where(
                ((ScrapingJob.status == Status.PROCESSING)
                 & (ScrapingJob.heartbeat_at < stale_before))
                | ((ScrapingJob.status == Status.PENDING)
                   & (ScrapingJob.updated_at < pending_before) & _due(now)))))

    def claim(self, job_id: str, worker_id: str, now: datetime,
              stale_before: datetime) -> ScrapingJob | None:
        """pending → processing for this worker, or take over one whose worker went silent
        or that was parked, owned by no one, at the end of a time budget."""
        claimable = ((JOBS.c.status == Status.PENDING) & _due(now)) | (
            (JOBS.c.status == Status.PROCESSING)
            & ((JOBS.c.heartbeat_at < stale_before) | JOBS.c.worker_id.is_(None)))
        with self.writing() as s:
            result = s.execute(update(JOBS).where(JOBS.c.id == job_id, claimable).values(
                status=Status.PROCESSING, worker_id=worker_id, heartbeat_at=now,
                started_at=func.coalesce(JOBS.c.started_at, now), attempts=JOBS.c.attempts + 1,
                version=JOBS.c.version + 1, updated_at=now))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return s.get(ScrapingJob, job_id)

    def update_owned(self, job_id: str, owner: str, **values: Any) -> int | None:
        """Change a job `owner` still runs; the new version, or None if it is not theirs."""
        with self.writing() as s:
            return self._update_owned(s, job_id, owner, values)

    def ingest(self, job_id: str, worker_id: str, *, from_offset: int, to_offset: int,
               creators: Sequence[Creator], skipped: int, progress: int,
               rate_per_second: float | None, processed: int | None = None,
               values: Mapping[str, Any] | None = None) -> int | None:
        """One page of items: creators upserted and the job's counters moved, atomically.

        `processed` sets processedResults outright (a similar search counts distinct
        candidates); by default it grows by the creators saved. `values` are further columns
        to set with the page. The offset guard makes a page count once even if two workers
        read it."""
        return self.ingest_pages([PageWrite(
            job_id, worker_id, from_offset, to_offset, tuple(creators), skipped, progress,
            rate_per_second, processed, values)])[0]

    def ingest_pages(self, pages: Sequence[PageWrite]) -> list[int | None]:
        """Pages of any jobs in one transaction (a worker's group commit): each page's new
        job version, or None where the job was no longer that worker's. All or none."""
        versions: list[int | None] = [None] * len(pages)
        with self.writing() as s:
            # Job rows locked in one order, that of heartbeat_many too: no deadlock between
            # a worker's writes.
            order = sorted(range(len(pages)), key=lambda i: pages[i].job_id)
            for i in order:
                versions[i] = self._move_job(s, pages[i])
            # Then the creators of every page whose job was still ours: one statement each
            # for the whole batch, but the merge into each job's campaign list.
            saved = [pages[i] for i in order if versions[i] is not None and pages[i].creators]
            if saved:
                keys = self._upsert_creators(s, saved)
                dialect = self.engine.dialect.name
                self._fast.prepare("recount", functools.partial(recount_creators, dialect)
                                   ).execute(s.connection(), {"jobs": campaign_list.among_values(
                                       dialect, [page.job_id for page in saved])})
                campaign_list.link_found(s, self._fast, [
                    link for page in saved for link in campaign_list.merged(
                        s, self._fast, page.job_id, "handle_key", keys[page.job_id])])
        return versions

    def _move_job(self, s: Session, page: PageWrite) -> int | None:
        """A page's change of its job row, guarded; its new version, or None. The statement
        is compiled once for each set of further columns the page sets (usually none)."""
        news = page.values or {}
        columns = tuple(sorted(news))
        return self._fast.prepare(
            ("ingest_job", columns), functools.partial(ingest_job_update, columns)).execute(
                s.connection(), {
                    "job": page.job_id, "worker": page.worker_id,
                    "from_offset": page.from_offset, "to_offset": page.to_offset,
                    "now": utcnow(), "added": len(page.creators), "processed": page.processed,
                    "skipped": page.skipped, "new_progress": page.progress,
                    "rate": page.rate_per_second,
                    **{f"new_{name}": value for name, value in news.items()}}
            ).scalar_one_or_none()

    def heartbeat(self, job_id: str, worker_id: str) -> bool:
        """Say this worker is alive; False once the job is no longer ours to run."""
        with self.writing() as s:
            result = s.execute(update(JOBS).where(
                JOBS.c.id == job_id, JOBS.c.worker_id == worker_id,
                JOBS.c.status == Status.PROCESSING).values(heartbeat_at=utcnow()))
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def heartbeat_many(self, job_ids: Collection[str], worker_id: str) -> set[str]:
        """Say this worker is alive for all its jobs in one write; those still ours."""
        if not job_ids:
            return set()
        # The rows are locked in id order, as ingest_pages locks them: an UPDATE's own order
        # is the plan's, and two writers locking in different orders deadlock.
        ours = select(JOBS.c.id).where(
            JOBS.c.id.in_(list(job_ids)), JOBS.c.worker_id == worker_id,
            JOBS.c.status == Status.PROCESSING).order_by(JOBS.c.id).with_for_update(
            key_share=True)
        with self.writing() as s:
            return set(s.scalars(update(JOBS).where(JOBS.c.id.in_(ours))
                                 .values(heartbeat_at=utcnow()).returning(JOBS.c.id)))

    def finish(self, job_id: str, status: Status, *, error: str | None = None,
               worker_id: str | None = None, progress: int | None = None,
               values: Mapping[str, Any] | None = None,
               audit: Audit | None = None) -> ScrapingJob | None:
        """Move a job to a terminal status (with further `values`), unless it already has
        one."""
        now = utcnow()
        row: dict[str, Any] = {**(values or {}), "status": status, "finished_at": now,
                               "updated_at": now, "version": JOBS.c.version + 1,
                               "heartbeat_at": None}
        if error is not None:
            row["last_error"] = error
        if progress is not None:
            row["progress"] = progress
        if status is Status.COMPLETED:
            row["stage"] = "completed"
        query = update(JOBS).where(JOBS.c.id == job_id,
                                   JOBS.c.status.in_([Status.PENDING, Status.PROCESSING]))
        if worker_id is not None:
            query = query.where(JOBS.c.worker_id == worker_id)
        with self.writing() as s:
            if s.execute(query.values(**row)).rowcount != 1:  # type: ignore[attr-defined]
                return None
            if audit is not None:
                audit(s)
            # The outbox: its outcome is told (webhooks, notifications) even after a crash.
            s.add(JobOutcome(job_id=job_id, at=now))
            return s.get(ScrapingJob, job_id)

    def creators(self, job_id: str, after_id: int | None = None, by_similarity: bool = False,
                 *, sort: str | None = None, min_followers: int | None = None,
                 limit: int | None = None) -> Sequence[CreatorRow]:
        """A job's creators, most followed first (most similar first with `by_similarity`,
        or by `sort`: followers, engagement or similarity, the most first); or, after
        `after_id`, the newer ones in the order they were found (how a page streams rows in
        while a job runs). Those its campaign excluded are left out, and with
        `min_followers` those known to have fewer or not known; `limit` caps the rows."""
        query = select(CreatorRow).where(CreatorRow.job_id == job_id, self._visible(job_id))
        if min_followers:
            query = query.where(CreatorRow.followers >= min_followers)
        sort = sort or ("similarity" if by_similarity else "followers")
        if after_id is not None:
            query = query.where(CreatorRow.id > after_id).order_by(CreatorRow.id)
        else:
            query = query.order_by(*JOB_SORTS[sort], CreatorRow.followers.desc().nulls_last(),
                                   CreatorRow.id)
        with self.reading() as s:
            return s.scalars(query.limit(limit)).all()

    def count_creators(self, job_id: str) -> int:
        """How many creators a job's table shows: those its campaign has not excluded."""
        with self.reading() as s:
            return int(s.scalar(select(func.count()).select_from(CreatorRow).where(
                CreatorRow.job_id == job_id, self._visible(job_id))) or 0)

    @staticmethod
    def _visible(job_id: str) -> ColumnElement[bool]:
        campaign = select(JOBS.c.campaign_id).where(JOBS.c.id == job_id).scalar_subquery()
        return campaign_list.not_excluded(campaign)

    # the campaign's creator list --------------------------------------------------------------
    def campaign_creators(self, campaign_id: str, wanted: CreatorFilter, sort: str, limit: int,
                          cursor: str | None) -> CreatorPage:
        with self.reading() as s:
            return campaign_list.page(s, campaign_id, wanted, sort, limit, cursor)

    def campaign_creator(self, campaign_id: str, creator_id: int) -> CreatorPage | None:
        """One creator of the campaign's list (as a page of one), or None."""
        with self.reading() as s:
            found = s.scalars(select(CampaignCreator).where(
                CampaignCreator.campaign_id == campaign_id,
                CampaignCreator.id == creator_id)).first()
            if found is None:
                return None
            found_by, tags = campaign_list.details(s, [found.id])
            return CreatorPage([found], found_by, tags, None, 1)

    def change_campaign_creators(self, campaign_id: str, ids: Sequence[int],
                                 what: WorkflowChange) -> list[int]:
        """The team's change to those of `ids` in the campaign's list; the ids changed."""
        with self.writing() as s:
            return campaign_list.change(s, campaign_id, ids, what)

    def creators_to_look_up(self, job_id: str, limit: int) -> list[str]:
        """Handles of a job's creators with no follower count and no lookup yet, oldest
        first."""
        with self.reading() as s:
            return list(s.scalars(select(CreatorRow.handle).where(
                CreatorRow.job_id == job_id, CreatorRow.followers.is_(None),
                CreatorRow.profile_lookup.is_(None)).order_by(CreatorRow.id).limit(limit)))

    def take_run_slot(self, job_id: str, worker_id: str, limit: int) -> bool:
        """Count the job among the Apify runs going, if fewer than `limit` active jobs hold
        one (across every worker: the count and the claim are one transaction, serialised
        on PostgreSQL by an advisory lock); False when all are taken."""
        with self.writing() as s:
            if s.get_bind().dialect.name == "postgresql":
                s.execute(select(func.pg_advisory_xact_lock(RUN_SLOTS_LOCK)))
            held = s.scalar(select(func.count()).select_from(JOBS).where(
                JOBS.c.holds_run.is_(True), JOBS.c.id != job_id,
                JOBS.c.status.in_([Status.PENDING, Status.PROCESSING]))) or 0
            if held >= limit:
                return False
            s.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.worker_id == worker_id)
                      .values(holds_run=True))
            return True

    def release_run_slot(self, job_id: str) -> None:
        with self.writing() as s:
            s.execute(update(JOBS).where(JOBS.c.id == job_id, JOBS.c.holds_run.is_(True))
                      .values(holds_run=False))

    def count_to_look_up(self, job_id: str) -> int:
        with self.reading() as s:
            return int(s.scalar(select(func.count()).select_from(CreatorRow).where(
                CreatorRow.job_id == job_id, CreatorRow.followers.is_(None),
                CreatorRow.profile_lookup.is_(None))) or 0)

    def save_profiles(self, job_id: str, worker_id: str, found: Mapping[str, Creator],
                      failed: Sequence[str], values: Mapping[str, Any]) -> int | None:
        """What a batch of profile lookups found (by lower-cased handle), and which failed,
        with the job's own `values`, in one transaction guarded by the job's owner."""
        with self.writing() as s:
            version = self._update_owned(s, job_id, worker_id, dict(values))
            if version is None:
                return None
            for key, creator in found.items():
                rate = creator.engagement_rate
                s.execute(update(CREATORS).where(
                    CREATORS.c.job_id == job_id, CREATORS.c.handle_key == key).values(
                    followers=creator.followers, profile_lookup="done",
                    engagement_sum=rate or 0.0, engagement_samples=0 if rate is None else 1,
                    display_name=func.coalesce(CREATORS.c.display_name, creator.display_name),
                    bio=func.coalesce(CREATORS.c.bio, creator.bio),
                    avatar_url=func.coalesce(CREATORS.c.avatar_url, creator.avatar_url),
                    verified=creator.verified,
                    emails=func.coalesce(CREATORS.c.emails, literal(
                        list(creator.emails) or None, CREATORS.c.emails.type)),
                    external_url=func.coalesce(CREATORS.c.external_url, creator.external_url),
                    country=func.coalesce(CREATORS.c.country, creator.country)))
            if failed:
                s.execute(update(CREATORS).where(
                    CREATORS.c.job_id == job_id, CREATORS.c.handle_key.in_(list(failed)))
                    .values(profile_lookup="failed"))
            if found:
                campaign_list.merge(s, self._fast, job_id, "handle_key", list(found))
            return version

    def creator_keys(self, job_id: str) -> set[str]:
        """The (lower-cased) handles of the creators a job has saved."""
        with self.reading() as s:
            return set(s.scalars(select(CreatorRow.handle_key).where(
                CreatorRow.job_id == job_id)))

    def creators_batch(self, job_id: str, after_id: int, limit: int) -> Sequence[CreatorRow]:
        """Up to `limit` of a job's creators with ids above `after_id`, in id order."""
        with self.reading() as s:
            return s.scalars(select(CreatorRow).where(
                CreatorRow.job_id == job_id, CreatorRow.id > after_id)
                .order_by(CreatorRow.id).limit(limit)).all()

    def save_scores(self, job_id: str, worker_id: str,
                    scores: Sequence[tuple[int, float, str]], **values: Any) -> int | None:
        """(creator id, similarity score, reason) for a batch of a job's creators, with the
        job's own changes (progress, stage state), atomically; None if the job is not ours."""
        with self.writing() as s:
            version = self._update_owned(s, job_id, worker_id, values)
            if version is None:
                return None
            for creator_id, score, reason in scores:
                s.execute(update(CREATORS).where(
                    CREATORS.c.id == creator_id, CREATORS.c.job_id == job_id).values(
                    similarity_score=score, similarity_reason=reason))
            if scores:
                campaign_list.merge(s, self._fast, job_id, "id",
                                    [i for i, _, _ in scores])
            return version

    # helpers ------------------------------------------------------------------------------

    @staticmethod
    def _update_owned(s: Session, job_id: str, worker_id: str, values: dict[str, Any]
                      ) -> int | None:
        query = update(JOBS).where(JOBS.c.id == job_id, JOBS.c.worker_id == worker_id,
                                   JOBS.c.status == Status.PROCESSING)
        now = utcnow()
        result = s.execute(query.values(version=JOBS.c.version + 1, updated_at=now,
                                        heartbeat_at=now, **values)
                           .returning(JOBS.c.version))
        return result.scalar_one_or_none()

    def _upsert_creators(self, s: Session, pages: Sequence[PageWrite]) -> dict[str, list[str]]:
        """The pages' creators saved; each job's (lower-cased) handles."""
        rows = [row for page in pages for row in creator_rows(page.job_id, page.creators)]
        dialect = self.engine.dialect.name
        if any(row["terms"] for row in rows):
            # Terms are a set: merged here with the saved ones. The caller's guarded update
            # of each job row comes first in this transaction, so no other writer interleaves.
            saved = self._fast.prepare("saved_terms", functools.partial(
                saved_terms, dialect)).fetch(s.connection(), {
                    "jobs": campaign_list.among_values(dialect, [p.job_id for p in pages]),
                    "keys": campaign_list.among_values(
                        dialect, sorted({row["handle_key"] for row in rows}))})
            old_terms = {(job, key): terms or [] for job, key, terms in saved}
            for row in rows:
                old = old_terms.get((row["job_id"], row["handle_key"]))
                if row["terms"] or old:
                    row["terms"] = sorted({*(old or []), *(row["terms"] or [])})
        upsert = self._fast.prepare("creators_upsert", functools.partial(
            creators_upsert, dialect))
        s.connection().exec_driver_sql(upsert.sql, upsert.many(rows))
        keys: dict[str, list[str]] = {}
        for row in rows:
            keys.setdefault(row["job_id"], []).append(row["handle_key"])
        return keys


# The advisory lock that serialises claims of APIFY_MAX_CONCURRENT_RUNS on PostgreSQL.
RUN_SLOTS_LOCK = 0x5C7A_0001


# A job's table sorted by each key, the most first (ties: the most followed, then found first).
JOB_SORTS: dict[str, tuple[ColumnElement[Any], ...]] = {
    "followers": (),
    "engagement": (case((CREATORS.c.engagement_samples > 0, CREATORS.c.engagement_sum
                         / CREATORS.c.engagement_samples)).desc().nulls_last(),),
    "similarity": (CREATORS.c.similarity_score.desc().nulls_last(),)}


def _due(now: datetime) -> ColumnElement[bool]:
    """A pending job that is not waiting out a back-off (for Apify capacity)."""
    return JOBS.c.not_before.is_(None) | (JOBS.c.not_before <= now)


CREATOR_COLUMNS = ("job_id", "platform", "handle_key", "handle", "display_name", "followers",
                   "engagement_sum", "engagement_samples", "bio", "profile_url", "avatar_url",
                   "verified", "matched_keyword", "items_count", "created_at", "terms",
                   "emails", "external_url", "country", "language")
OUTREACH = ("emails", "external_url", "country", "language")


def ingest_job_update(columns: Sequence[str] = ()) -> Update:
    """A page's change of its job, guarded: still this worker's, still processing, and read
    from where the job's offset stands, so a page counts once even if two workers read it.
    Counts only grow; `processed` (a similar search's distinct candidates) sets the count
    outright, else it grows by the creators saved. Further `columns` (what is new of the
    run) are set from binds named `new_<column>`."""
    now = bindparam("now", type_=JOBS.c.updated_at.type)
    news = {name: bindparam(f"new_{name}", type_=JOBS.c[name].type) for name in columns}
    return update(JOBS).where(
        JOBS.c.id == bindparam("job"), JOBS.c.worker_id == bindparam("worker"),
        JOBS.c.status == Status.PROCESSING,
        JOBS.c.items_offset == bindparam("from_offset")).values(
        version=JOBS.c.version + 1, updated_at=now, heartbeat_at=now,
        items_offset=bindparam("to_offset"),
        processed_results=func.coalesce(bindparam("processed", type_=Integer),
                                        JOBS.c.processed_results + bindparam("added")),
        skipped_items=JOBS.c.skipped_items + bindparam("skipped"),
        progress=bindparam("new_progress"),
        rate_per_second=bindparam("rate", type_=JOBS.c.rate_per_second.type), **news,
    ).returning(JOBS.c.version)


def saved_terms(dialect_name: str) -> Select[Any]:
    """The terms already saved for some jobs' creators (among `jobs` and handle `keys`)."""
    return select(CREATORS.c.job_id, CREATORS.c.handle_key, CREATORS.c.terms).where(
        campaign_list.among(dialect_name, CREATORS.c.job_id, "jobs"),
        campaign_list.among(dialect_name, CREATORS.c.handle_key, "keys"))


def recount_creators(dialect_name: str) -> Update:
    """Some jobs' distinct creators (among `jobs`), counted again after their pages' upsert
    (same transaction)."""
    return update(JOBS).where(campaign_list.among(dialect_name, JOBS.c.id, "jobs")).values(
        creators_count=select(func.count()).select_from(CREATORS).where(
            CREATORS.c.job_id == JOBS.c.id).scalar_subquery())


def creators_upsert(dialect_name: str) -> Insert:
    """The creators upsert of creator_rows' rows (prepared once per store: see prepared.py)."""
    insert = (sqlite if dialect_name == "sqlite" else postgresql).insert(CREATORS).values(
        {name: bindparam(name) for name in CREATOR_COLUMNS})
    new, old = insert.excluded, CREATORS.c
    keep = {f: func.coalesce(new[f], old[f])
            for f in ("display_name", "followers", "bio", "profile_url", "avatar_url",
                      *OUTREACH)}
    keep["matched_keyword"] = func.coalesce(old.matched_keyword, new.matched_keyword)
    keep["terms"] = func.coalesce(new.terms, old.terms)
    return cast(Insert, insert.on_conflict_do_update(
        index_elements=[old.job_id, old.platform, old.handle_key],
        set_={**keep,
              "items_count": old.items_count + new.items_count,
              "engagement_sum": old.engagement_sum + new.engagement_sum,
              "engagement_samples": old.engagement_samples + new.engagement_samples,
              "verified": old.verified | new.verified}))


def creator_rows(job_id: str, creators: Sequence[Creator]) -> list[dict[str, Any]]:
    """A page's creators as rows, one per (platform, handle): counts and engagement summed, a
    later item's non-empty profile fields winning."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    now = utcnow()
    for c in creators:
        key = c.key  # computed: once per creator
        row = rows.get(key)
        if row is None:
            rows[key] = row = {
                "job_id": job_id, "platform": c.platform, "handle_key": key[1],
                "handle": c.handle, "display_name": c.display_name, "followers": c.followers,
                "engagement_sum": 0.0, "engagement_samples": 0, "bio": c.bio,
                "profile_url": c.profile_url, "avatar_url": c.avatar_url,
                "verified": c.verified, "matched_keyword": c.matched_keyword,
                "items_count": 0, "created_at": now, "terms": None,
                "emails": list(c.emails) or None, "external_url": c.external_url,
                "country": c.country, "language": c.language}
        else:  # a later item of the same page carries the fresher profile
            for field in ("display_name", "followers", "bio", "profile_url", "avatar_url",
                          "external_url", "country", "language"):
                if getattr(c, field) is not None:
                    row[field] = getattr(c, field)
            if c.emails:
                row["emails"] = list(c.emails)
            row["verified"] = row["verified"] or c.verified
        row["items_count"] += 1
        if c.engagement_rate is not None:
            row["engagement_sum"] += c.engagement_rate
            row["engagement_samples"] += 1
        if c.terms:
            row["terms"] = [*(row["terms"] or []), *c.terms]
    return list(rows.values())
