"""Saved and scheduled searches: create, list, edit, pause, delete; and the tick that fires
the due ones. Routes, pages and CLI call this; worker processes tick.

A firing is an ordinary search (Service.start_search) that carries its schedule's id and
the cron time it fires for: the job's unique (schedule_id, scheduled_for) makes it happen
once however many workers tick at once (see store/schedules.py). A firing found later than
SCHEDULE_MISFIRE_GRACE_SECONDS (no worker ran at its time) follows the schedule's `missed`:
`run_once` starts one search for the latest time missed, `skip` starts none. Either way the
next firing moves to the first cron time after now, so any number of missed times collapse
into one decision.

A firing runs as the schedule's owner, the member who last saved it (created or edited it),
under their limits. If they cannot start it (they left the workspace, a limit refused), the
schedule keeps the reason in `last_error` and goes on to its next time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from scrapetrack.access import READ, WORK, Actor, Role, require
from scrapetrack.exceptions import (
    AlreadyFired,
    Forbidden,
    InputError,
    ScheduleNotFound,
    ScrapetrackError,
    Unavailable,
)
from scrapetrack.service import SearchRequest, Service, check_text, looks_like_id
from scrapetrack.store.models import Schedule, ScrapingJob, new_id, utcnow
from scrapetrack.store.schedules import ScheduleRows

log = logging.getLogger(__name__)

MISSED = ("run_once", "skip")
MAX_CRON_LENGTH = 120
MAX_TIMEZONE_LENGTH = 64
DUE_PER_TICK = 100  # the rest of a backlog goes in the next tick, a second later
# What PATCH may change, by the field names of ScheduleSpec (camelCase in the API).
FIELDS = ("campaign_id", "platform", "keywords", "target_username", "target_results",
          "budget_usd", "cron", "timezone", "paused", "missed")
NOT_NULL = frozenset({"campaign_id", "platform", "cron", "timezone", "paused", "missed"})
CAMEL = {"campaign_id": "campaignId", "target_username": "targetUsername",
         "target_results": "targetResults", "budget_usd": "budgetUsd"}


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """What a new schedule asks for: a search's input, and when to start it."""

    campaign_id: str
    platform: str
    cron: str
    keywords: Sequence[str] | None = None
    target_username: str | None = None
    target_results: int | None = None
    budget_usd: float | None = None
    timezone: str = "UTC"
    paused: bool = False
    missed: str = "run_once"


@dataclass(frozen=True, slots=True)
class Fired:
    """What a tick did with one due schedule: `fired` (job_id started), `skipped` (missed,
    policy skip), `already` (another process fired it) or `failed` (error)."""

    schedule_id: str
    scheduled_for: datetime
    outcome: str
    job_id: str | None = None
    error: str | None = None


# cron and time zones -----------------------------------------------------------------------
def check_cron(raw: object) -> str:
    """Five fields (minute hour day-of-month month day-of-week) or a macro like @daily."""
    cron = " ".join(raw.split()) if isinstance(raw, str) else ""
    if not cron or len(cron) > MAX_CRON_LENGTH:
        raise InputError(f"cron must be 1 to {MAX_CRON_LENGTH} characters")
    # A sixth field would be seconds (croniter's extension): a search a second is no plan.
    if not (cron.startswith("@") or len(cron.split()) == 5) or not croniter.is_valid(cron):
        raise InputError(f"cron {cron!r} is not a cron expression of five fields (minute "
                         "hour day-of-month month day-of-week), like '0 9 * * 1'")
    try:
        croniter(cron, utcnow()).get_next(datetime)
    except CroniterError:  # "0 0 31 2 *": 31 February
        raise InputError(f"cron {cron!r} never fires") from None
    return cron


def check_timezone(raw: object) -> str:
    name = check_text(raw, "timezone", MAX_TIMEZONE_LENGTH)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"timezone {name!r} is not an IANA time zone, like 'UTC' or "
                         "'Europe/Berlin'") from None
    return name


def check_missed(raw: object) -> str:
    if raw not in MISSED:
        raise InputError(f"missed must be one of {', '.join(MISSED)}")
    return str(raw)


def next_time(cron: str, timezone: str, after: datetime) -> datetime:
    """The first cron time after `after`, read in `timezone` (DST as croniter handles it), in
    UTC."""
    found = croniter(cron, after.astimezone(ZoneInfo(timezone))).get_next(datetime)
    return found.astimezone(UTC)


def previous_time(cron: str, timezone: str, before: datetime) -> datetime:
    """The last cron time before `before`, in UTC."""
    found = croniter(cron, before.astimezone(ZoneInfo(timezone))).get_prev(datetime)
    return found.astimezone(UTC)


def search_of(schedule: Schedule) -> SearchRequest:
    return SearchRequest(platform=schedule.platform, campaign_id=schedule.campaign_id,
                         keywords=schedule.keywords, target_username=schedule.target_username,
                         target_results=schedule.target_results,
                         budget_usd=schedule.budget_usd)


class Schedules:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.store = service.store
        self.rows = ScheduleRows(service.store)

    # what people do -------------------------------------------------------------------------
    def create(self, actor: Actor, spec: ScheduleSpec) -> Schedule:
        """A schedule in the campaign's workspace, run as the actor (who must be able to
        start searches there)."""
        campaign, search = self.service.check_search(actor, SearchRequest(
            platform=spec.platform, campaign_id=spec.campaign_id, keywords=spec.keywords,
            target_username=spec.target_username, target_results=spec.target_results,
            budget_usd=spec.budget_usd))
        cron, timezone = check_cron(spec.cron), check_timezone(spec.timezone)
        paused = self._check_paused(spec.paused)
        now = utcnow()
        schedule_id = new_id()
        schedule = self.rows.create({
            "id": schedule_id, "workspace_id": campaign.workspace_id,
            "campaign_id": campaign.id, "user_id": actor.id, **self._search_values(search),
            "cron": cron, "timezone": timezone, "paused": paused,
            "missed": check_missed(spec.missed),
            "next_fire_at": None if paused else next_time(cron, timezone, now),
            "created_at": now, "updated_at": now},
            self.service.entry(campaign.workspace_id, actor, "schedule.created", schedule_id,
                               campaignId=campaign.id, cron=cron))
        return schedule

    def from_job(self, actor: Actor, job_id: str, cron: str, timezone: str,
                 missed: str = "run_once") -> Schedule:
        """A schedule that repeats a search's input ("Save as schedule")."""
        job = self.service.get_job(actor, job_id, least=WORK)
        similar = job.kind == "similar"
        return self.create(actor, ScheduleSpec(
            campaign_id=job.campaign_id, platform=job.platform, cron=cron,
            keywords=None if similar else job.keywords,
            target_username=job.target_username if similar else None,
            target_results=job.target_results, budget_usd=job.budget_usd,
            timezone=timezone, missed=missed))

    def of(self, actor: Actor, campaign_id: str | None = None,
           workspace_id: str | None = None) -> Sequence[Schedule]:
        """The schedules of the actor's workspaces (of one campaign, or one workspace),
        newest first."""
        if campaign_id is not None:
            campaign_id = self.service.get_campaign(actor, campaign_id).id
        if workspace_id is not None:
            self.service.workspace_role(actor, workspace_id)
        return self.rows.visible_to(actor, campaign_id=campaign_id, workspace_id=workspace_id)

    def get(self, actor: Actor, schedule_id: str, least: Role = READ) -> Schedule:
        """A schedule of the actor's workspaces (ScheduleNotFound for any other), if their
        role there is at least `least` (Forbidden if not)."""
        found = self.rows.get_for(actor, schedule_id) if looks_like_id(schedule_id) else None
        if found is None:
            raise ScheduleNotFound()
        require(found[1], least)
        return found[0]

    def update(self, actor: Actor, schedule_id: str, changes: Mapping[str, Any]) -> Schedule:
        """Change any of FIELDS; the actor becomes the one it runs as. A new cron or time
        zone, or a resume, sets the next firing from now on; a pause clears it."""
        schedule = self.get(actor, schedule_id, WORK)
        if unknown := set(changes) - set(FIELDS):
            raise InputError(f"Cannot change {', '.join(sorted(unknown))}")
        for name in NOT_NULL & {k for k, v in changes.items() if v is None}:
            raise InputError(f"{CAMEL.get(name, name)} cannot be null")
        merged = {name: getattr(schedule, name) for name in FIELDS} | dict(changes)
        # Giving one kind of search's input replaces the other's.
        if changes.get("keywords") is not None and "target_username" not in changes:
            merged["target_username"] = None
        if changes.get("target_username") is not None and "keywords" not in changes:
            merged["keywords"] = None
        campaign, search = self.service.check_search(actor, SearchRequest(
            platform=merged["platform"], campaign_id=merged["campaign_id"],
            keywords=merged["keywords"], target_username=merged["target_username"],
            target_results=merged["target_results"], budget_usd=merged["budget_usd"]))
        cron, timezone = check_cron(merged["cron"]), check_timezone(merged["timezone"])
        paused = self._check_paused(merged["paused"])
        values: dict[str, Any] = {
            "workspace_id": campaign.workspace_id, "campaign_id": campaign.id,
            "user_id": actor.id, **self._search_values(search), "cron": cron,
            "timezone": timezone, "paused": paused, "missed": check_missed(merged["missed"])}
        if paused:
            values["next_fire_at"] = None
        elif (schedule.paused or schedule.next_fire_at is None or cron != schedule.cron
              or timezone != schedule.timezone):
            values["next_fire_at"] = next_time(cron, timezone, utcnow())
        changed = self.rows.change(schedule.id, values, self.service.entry(
            campaign.workspace_id, actor, "schedule.changed", schedule.id,
            fields=sorted(changes)))
        if changed is None:  # deleted meanwhile
            raise ScheduleNotFound()
        return changed

    def delete(self, actor: Actor, schedule_id: str) -> None:
        """The schedule goes; the searches it started stay."""
        schedule = self.get(actor, schedule_id, WORK)
        if not self.rows.delete(schedule.id, self.service.entry(
                schedule.workspace_id, actor, "schedule.deleted", schedule.id)):
            raise ScheduleNotFound()

    @staticmethod
    def _check_paused(raw: object) -> bool:
        if not isinstance(raw, bool):
            raise InputError("paused must be true or false")
        return raw

    @staticmethod
    def _search_values(search: SearchRequest) -> dict[str, Any]:
        return {"platform": search.platform,
                "keywords": None if search.keywords is None else list(search.keywords),
                "target_username": search.target_username,
                "target_results": search.target_results, "budget_usd": search.budget_usd}

    # firing ---------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> list[Fired]:
        """Fire every due schedule (a worker calls this every second, and once on start).
        One schedule's failure never stops the others'; a database that is down ends the
        tick, and the next one tries again."""
        now = now or utcnow()
        done: list[Fired] = []
        for schedule in self.rows.due(now, DUE_PER_TICK):
            try:
                done.append(self._fire(schedule, now))
            except Unavailable:
                raise
            except Exception:  # a bug for one schedule: the others still fire
                log.exception("schedule %s could not fire", schedule.id)
        return done

    def _fire(self, schedule: Schedule, now: datetime) -> Fired:
        due = schedule.next_fire_at
        assert due is not None  # the due query asks for one
        latest = max(due, previous_time(schedule.cron, schedule.timezone, now))
        upcoming = next_time(schedule.cron, schedule.timezone, now)
        late = (now - latest).total_seconds() > \
            self.service.settings.schedule_misfire_grace_seconds
        if late and schedule.missed == "skip":
            if self.rows.advance(schedule.id, due, upcoming):
                log.warning("schedule %s missed %s (no worker ran); skipped as its policy "
                            "says, next at %s", schedule.id, latest.isoformat(),
                            upcoming.isoformat())
            return Fired(schedule.id, latest, "skipped")
        try:
            job = self._start(schedule, latest)
        except AlreadyFired:
            self.rows.advance(schedule.id, due, upcoming)
            return Fired(schedule.id, latest, "already")
        except Unavailable:
            raise
        except ScrapetrackError as exc:
            if self._fired_elsewhere(schedule.id, latest):  # a limit counted the other's
                self.rows.advance(schedule.id, due, upcoming)
                return Fired(schedule.id, latest, "already")
            error = f"{latest:%Y-%m-%d %H:%M} UTC: {exc.message}"
            self.rows.advance(schedule.id, due, upcoming, last_error=error)
            log.warning("schedule %s could not start its search for %s: %s", schedule.id,
                        latest.isoformat(), exc.message)
            return Fired(schedule.id, latest, "failed", error=error)
        self.rows.advance(schedule.id, due, upcoming, last_fired_at=latest,
                          last_job_id=job.id, last_error=None)
        log.info("schedule %s fired for %s%s: job %s", schedule.id, latest.isoformat(),
                 " (missed, run once)" if late else "", job.id)
        return Fired(schedule.id, latest, "fired", job_id=job.id)

    def _start(self, schedule: Schedule, scheduled_for: datetime) -> ScrapingJob:
        user = self.store.user_by_id(schedule.user_id) if schedule.user_id else None
        if user is None:
            raise Forbidden("Its owner's account was removed: edit the schedule to run it "
                            "as yourself")
        if self.service.workspaces.role(schedule.workspace_id, user.id) is None:
            raise Forbidden(f"{user.email} is no longer a member of this workspace: edit the "
                            "schedule to run it as yourself")
        return self.service.start_search(Actor(user.id, user.email), search_of(schedule),
                                         action="search.scheduled",
                                         firing=(schedule.id, scheduled_for))

    def _fired_elsewhere(self, schedule_id: str, scheduled_for: datetime) -> bool:
        return self.rows.fired_job(schedule_id, scheduled_for) is not None
