"""Saved and scheduled searches: create, list, read, edit (pause, resume) and delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from scrapetrack.schedules import ScheduleSpec
from scrapetrack.schemas import ScheduleChangeIn, ScheduleIn, ScheduleOut
from scrapetrack.serializers import iso
from scrapetrack.store.models import Schedule
from scrapetrack.web.deps import CurrentUser, SchedulesDep
from scrapetrack.web.openapi import ANY, UNSAFE, errors

router = APIRouter(prefix="/api", tags=["schedules"])
# The body's names → the service's.
CHANGES = {"campaignId": "campaign_id", "platform": "platform", "keywords": "keywords",
           "targetUsername": "target_username", "targetResults": "target_results",
           "budgetUsd": "budget_usd", "cron": "cron", "timezone": "timezone",
           "paused": "paused", "missed": "missed"}


def schedule_out(s: Schedule) -> ScheduleOut:
    return ScheduleOut(
        id=s.id, workspaceId=s.workspace_id, campaignId=s.campaign_id, platform=s.platform,
        kind="similar" if s.target_username is not None else "keyword", keywords=s.keywords,
        targetUsername=s.target_username, targetResults=s.target_results,
        budgetUsd=s.budget_usd, cron=s.cron, timezone=s.timezone, paused=s.paused,
        missed="skip" if s.missed == "skip" else "run_once", nextFireAt=iso(s.next_fire_at),
        lastFiredAt=iso(s.last_fired_at), lastJobId=s.last_job_id, lastError=s.last_error,
        createdBy=s.user_id, createdAt=iso(s.created_at) or "",
        updatedAt=iso(s.updated_at) or "")


@router.post("/schedules", status_code=201, responses=errors(400, 404, *UNSAFE, *ANY))
def create_schedule(body: ScheduleIn, user: CurrentUser,
                    schedules: SchedulesDep) -> ScheduleOut:
    """A search that starts itself on a cron expression, in a time zone, in the campaign's
    workspace (your role there must allow starting searches). Its searches run as you."""
    return schedule_out(schedules.create(user, ScheduleSpec(
        campaign_id=body.campaignId, platform=body.platform, cron=body.cron,
        keywords=body.keywords, target_username=body.targetUsername,
        target_results=body.targetResults, budget_usd=body.budgetUsd,
        timezone=body.timezone, paused=body.paused, missed=body.missed)))


@router.get("/schedules", responses=errors(400, 404, *ANY))
def list_schedules(user: CurrentUser, schedules: SchedulesDep,
                   campaign_id: Annotated[str | None, Query(alias="campaignId")] = None,
                   workspace: Annotated[str | None, Query(
                       description="a workspace's id: only its schedules")] = None,
                   ) -> list[ScheduleOut]:
    """The schedules of your workspaces (or of one campaign, or one workspace), newest
    first."""
    return [schedule_out(s) for s in schedules.of(user, campaign_id, workspace)]


@router.get("/schedules/{schedule_id}", responses=errors(404, *ANY))
def get_schedule(schedule_id: str, user: CurrentUser, schedules: SchedulesDep) -> ScheduleOut:
    return schedule_out(schedules.get(user, schedule_id))


@router.patch("/schedules/{schedule_id}", responses=errors(400, 404, *UNSAFE, *ANY))
def change_schedule(schedule_id: str, body: ScheduleChangeIn, user: CurrentUser,
                    schedules: SchedulesDep) -> ScheduleOut:
    """Only the fields given change: `{"paused": true}` pauses, `false` resumes. A new cron
    or time zone, or a resume, sets the next firing from now on. Its searches then run as
    you."""
    changes: dict[str, Any] = {CHANGES[name]: getattr(body, name)
                               for name in body.model_fields_set if name in CHANGES}
    return schedule_out(schedules.update(user, schedule_id, changes))


@router.delete("/schedules/{schedule_id}", status_code=204, response_class=Response,
               responses=errors(403, 404, *UNSAFE, *ANY))
def delete_schedule(schedule_id: str, user: CurrentUser, schedules: SchedulesDep) -> Response:
    """The schedule goes; the searches it started stay."""
    schedules.delete(user, schedule_id)
    return Response(status_code=204)
