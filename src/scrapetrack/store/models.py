"""The tables. Ids are UUID strings so SQLite and PostgreSQL share one schema."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Always aware UTC in Python, whatever the database keeps (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect,
                         coltype: Any) -> Callable[[Any], datetime | None] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite keeps ISO text: one C parse instead of the dialect's regex and then the
        # zone (every hub read and status poll turns five of these into datetimes).
        def parse(value: str | None) -> datetime | None:
            if value is None:
                return None
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None \
                else parsed.astimezone(UTC)

        return parse


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Workspace(Base):
    """Where a team's campaigns live. Every user has a personal one (`personal_of`)."""

    __tablename__ = "workspaces"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    personal_of: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The most its searches may charge in a calendar month (UTC), in USD; None: no cap.
    monthly_budget_usd: Mapped[float | None] = mapped_column(Float, default=None)


class Member(Base):
    """A user's role in a workspace: owner, admin, member or viewer."""

    __tablename__ = "workspace_members"
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """A one-time link into a workspace with a role; only its code's SHA-256 is kept."""

    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(8))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEvent(Base):
    """Who did what in a workspace, and when. Written by the service, never changed: the
    actor's email is copied, so an entry outlives the account."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_workspace_id_id", "workspace_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"))
    actor_id: Mapped[str | None] = mapped_column(String(36), default=None)
    actor_email: Mapped[str | None] = mapped_column(String(320), default=None)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(320), default=None)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True),
                                                          default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """Only the SHA-256 of a token is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    # "api" tokens are long-lived; "login" codes sign a browser in once, then expire.
    kind: Mapped[str] = mapped_column(String(8), default="api")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # An API token may act in one workspace only (for automations); None: all of its user's.
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), default=None)


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    # Who created it (kept when they leave); the workspace's members all work in it.
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScrapingJob(Base):
    """The original design's scraping_jobs, plus what a worker needs to resume after any crash."""

    __tablename__ = "scraping_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    # The campaign's, kept on the job too: a status read checks access without a join.
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    # Who started it (their limits count it; kept when they leave).
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10), default="keyword")
    status: Mapped[str] = mapped_column(String(12), default="pending")
    keywords: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    target_username: Mapped[str | None] = mapped_column(String(100), default=None)
    target_results: Mapped[int] = mapped_column(Integer)
    processed_results: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    stage: Mapped[str] = mapped_column(String(20), default="initializing")
    apify_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    apify_dataset_id: Mapped[str | None] = mapped_column(String(64), default=None)
    items_offset: Mapped[int] = mapped_column(Integer, default=0)
    skipped_items: Mapped[int] = mapped_column(Integer, default=0)
    creators_count: Mapped[int] = mapped_column(Integer, default=0)
    rate_per_second: Mapped[float | None] = mapped_column(Float, default=None)
    worker_id: Mapped[str | None] = mapped_column(String(64), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None, index=True)  # retention
    # A similar-creators job's progress through its stages (profile run, derived terms,
    # search run, scoring), so any worker can resume it from the row alone.
    stage_state: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True),
                                                               default=None)
    # What the Apify runs cost: each run's usageTotalUsd by run id (set, never added, so a
    # takeover that reads a run again counts it once), and their sum.
    run_costs: Mapped[dict[str, float] | None] = mapped_column(JSON(none_as_null=True),
                                                               default=None)
    cost_usd: Mapped[float | None] = mapped_column(Float, default=None)
    # The most any run of this search may charge (the request's budgetUsd, or
    # MAX_CHARGE_USD_PER_SEARCH), and the current run's live status message and Console page.
    budget_usd: Mapped[float | None] = mapped_column(Float, default=None)
    run_status_message: Mapped[str | None] = mapped_column(Text, default=None)
    console_url: Mapped[str | None] = mapped_column(Text, default=None)
    # Counted among APIFY_MAX_CONCURRENT_RUNS while its current run goes (and it is active).
    holds_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # A pending job waiting for Apify capacity is not claimed, nor queued again, before this.
    not_before: Mapped[datetime | None] = mapped_column(default=None)
    # A schedule's firing: the schedule and the time it fired for. Unique together, so a
    # firing starts one job however many workers tick at once.
    schedule_id: Mapped[str | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), default=None)
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    # The W3C traceparent of the request that created it (None with tracing off): the row is
    # all a worker gets, and its job-run span is that request's child (docs/tracing.md).
    trace_parent: Mapped[str | None] = mapped_column(String(64), default=None)

    __table_args__ = (Index("ix_scraping_jobs_status_heartbeat", "status", "heartbeat_at"),
                      # A workspace's month: what its budget has committed.
                      Index("ix_scraping_jobs_workspace_id_created_at", "workspace_id",
                            "created_at"),
                      UniqueConstraint("schedule_id", "scheduled_for"))


class CreatorRow(Base):
    """One creator per job, deduplicated on (platform, lower-cased handle)."""

    __tablename__ = "creators"
    __table_args__ = (UniqueConstraint("job_id", "platform", "handle_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        ForeignKey("scraping_jobs.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    handle_key: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(Text, default=None)
    followers: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Engagement is the mean over this creator's items: sum and count keep it exact on upsert.
    engagement_sum: Mapped[float] = mapped_column(Float, default=0.0)
    engagement_samples: Mapped[int] = mapped_column(Integer, default=0)
    bio: Mapped[str | None] = mapped_column(Text, default=None)
    profile_url: Mapped[str | None] = mapped_column(Text, default=None)
    avatar_url: Mapped[str | None] = mapped_column(Text, default=None)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    matched_keyword: Mapped[str | None] = mapped_column(Text, default=None)
    items_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Similar-creators jobs: the hashtags ("#fitness") and source keywords seen in this
    # creator's items, then the score they earned against the source creator and why.
    terms: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), default=None)
    similarity_score: Mapped[float | None] = mapped_column(Float, default=None)
    similarity_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # Creators found without their numbers (Instagram hashtag posts name the owner only) are
    # looked up through the profile actor: "done", or "failed" (shown as unknown).
    profile_lookup: Mapped[str | None] = mapped_column(String(8), default=None)
    # Outreach: addresses found in the bio, the bio link or website, country, language.
    emails: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), default=None)
    external_url: Mapped[str | None] = mapped_column(Text, default=None)
    country: Mapped[str | None] = mapped_column(String(100), default=None)
    language: Mapped[str | None] = mapped_column(String(20), default=None)

    @property
    def engagement_rate(self) -> float | None:
        if not self.engagement_samples:
            return None
        return self.engagement_sum / self.engagement_samples


class CampaignCreator(Base):
    """One creator per campaign, across all its searches: the numbers newest seen, and the
    team's own workflow status, note and tags, which later searches never overwrite."""

    __tablename__ = "campaign_creators"
    __table_args__ = (UniqueConstraint("campaign_id", "platform", "handle_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    handle_key: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(Text, default=None)
    followers: Mapped[int | None] = mapped_column(BigInteger, default=None)
    engagement_rate: Mapped[float | None] = mapped_column(Float, default=None)
    bio: Mapped[str | None] = mapped_column(Text, default=None)
    profile_url: Mapped[str | None] = mapped_column(Text, default=None)
    avatar_url: Mapped[str | None] = mapped_column(Text, default=None)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    similarity_score: Mapped[float | None] = mapped_column(Float, default=None)
    emails: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), default=None)
    external_url: Mapped[str | None] = mapped_column(Text, default=None)
    country: Mapped[str | None] = mapped_column(String(100), default=None)
    language: Mapped[str | None] = mapped_column(String(20), default=None)
    status: Mapped[str] = mapped_column(String(12), default="new")
    note: Mapped[str | None] = mapped_column(Text, default=None)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignCreatorJob(Base):
    """Which searches found a campaign creator (`foundBy`)."""

    __tablename__ = "campaign_creator_jobs"
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_creators.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[str] = mapped_column(
        ForeignKey("scraping_jobs.id", ondelete="CASCADE"), primary_key=True, index=True)


class CampaignCreatorTag(Base):
    """A campaign creator's tags, a row each, so a filter or a bulk change is plain SQL on
    every database."""

    __tablename__ = "campaign_creator_tags"
    creator_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_creators.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)


class QStashDelivery(Base):
    """A QStash delivery already handled, by its signature's hash or its message id, kept
    while its signature is valid: a copy sent again is acknowledged without running."""

    __tablename__ = "qstash_deliveries"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class MonthlySpend(Base):
    """What deleted searches had cost, by workspace and month ("2026-12"): deleting a search
    gives no budget back."""

    __tablename__ = "monthly_spend"
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    deleted_usd: Mapped[float] = mapped_column(Float, default=0.0)


class Schedule(Base):
    """A saved search that starts itself on a cron expression, in a time zone."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_paused_next_fire_at", "paused", "next_fire_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    # Whose searches its firings are (their limits count them); None once they leave.
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None)
    platform: Mapped[str] = mapped_column(String(20))
    keywords: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True), default=None)
    target_username: Mapped[str | None] = mapped_column(String(100), default=None)
    target_results: Mapped[int] = mapped_column(Integer)
    budget_usd: Mapped[float | None] = mapped_column(Float, default=None)
    cron: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # What a firing missed while no worker ran does: "run_once" or "skip".
    missed: Mapped[str] = mapped_column(String(8), default="run_once")
    next_fire_at: Mapped[datetime | None] = mapped_column(default=None)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)
    last_job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """Where a workspace's job outcomes are POSTed, signed with its secret (Standard
    Webhooks). The secret must be kept whole to sign; it is shown once, when created."""

    __tablename__ = "webhooks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)
    # job.few_results fires for a completed search with fewer creators than this.
    few_results_threshold: Mapped[int | None] = mapped_column(Integer, default=None)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# A completed search with fewer creators than this has "few results", unless set otherwise.
DEFAULT_FEW_RESULTS = 10


class NotificationSettings(Base):
    """How a user is told that their searches ended: Slack, email, and for which outcomes."""

    __tablename__ = "notification_settings"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    slack_webhook_url: Mapped[str | None] = mapped_column(Text, default=None)
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    on_completed: Mapped[bool] = mapped_column(Boolean, default=True)
    on_failed: Mapped[bool] = mapped_column(Boolean, default=True)
    on_few_results: Mapped[bool] = mapped_column(Boolean, default=True)
    few_results_threshold: Mapped[int] = mapped_column(Integer, default=DEFAULT_FEW_RESULTS)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobOutcome(Base):
    """The outbox: a job that ended and whose outcome is not yet turned into deliveries.
    Written in the transaction that ends the job, so a crash loses no notification."""

    __tablename__ = "job_outcomes"
    job_id: Mapped[str] = mapped_column(
        ForeignKey("scraping_jobs.id", ondelete="CASCADE"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Delivery(Base):
    """One message about one outcome to one place (a webhook, a Slack URL, an address),
    sent through the queue and retried with backoff: the same `message_id` every time."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_webhook_id_id", "webhook_id", "id"),
                      Index("ix_deliveries_status_next_attempt_at", "status",
                            "next_attempt_at"),
                      UniqueConstraint("message_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(40))
    webhook_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), default=None)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None)
    channel: Mapped[str] = mapped_column(String(8))  # webhook, slack or email
    target: Mapped[str] = mapped_column(Text)  # the URL, or the address
    event: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending (waiting for its next attempt), sending (claimed), delivered or failed.
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A claimed delivery whose sender died is claimable again after this.
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class DeliveryAttempt(Base):
    """One try of a delivery: when, the answer's code (None: no answer), how long."""

    __tablename__ = "delivery_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
