"""Live progress: one stream per job, or one per campaign for a browser tab."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from scrapetrack.events.slots import StreamSlots
from scrapetrack.exceptions import InputError
from scrapetrack.serializers import view_of
from scrapetrack.web.deps import CurrentUser, HubDep, ServiceDep
from scrapetrack.web.openapi import ANY, EVENTS, errors
from scrapetrack.web.sse import campaign_stream, job_stream

router = APIRouter(prefix="/api", tags=["events"])
STREAM = {200: {"description": "text/event-stream of `progress` events (the job status)",
                "content": {"text/event-stream": {"schema": {"type": "string"},
                                                  "example": EVENTS}}},
          **errors(404, *ANY)}


MAX_EVENT_ID_DIGITS = 18


def last_event_id(header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
                  query: Annotated[str | None, Query(alias="lastEventId")] = None) -> int | None:
    raw = (header or query or "").strip()
    # isdigit() alone also takes "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()):
        return None
    if len(raw) > MAX_EVENT_ID_DIGITS:  # no version is that large; int() would refuse it
        raise InputError(f"Last-Event-ID must be a whole number up to {MAX_EVENT_ID_DIGITS} "
                         "digits")
    return int(raw)


def stream_slots(request: Request) -> StreamSlots:
    slots: StreamSlots = request.app.state.stream_slots
    return slots


Slots = Annotated[StreamSlots, Depends(stream_slots)]


@router.get("/jobs/{job_id}/events", response_class=Response, responses=STREAM)
def job_events(job_id: str, request: Request, user: CurrentUser, service: ServiceDep,
               hub: HubDep, slots: Slots,
               since: Annotated[int | None, Depends(last_event_id)]) -> Response:
    """The job's status on every change; ends after its terminal status."""
    job = view_of(service.get_job(user.id, job_id))
    return job_stream(hub, job, since, request.state.credentials,
                      slot=(slots, user.id))


@router.get("/campaigns/{campaign_id}/events", response_class=Response, responses=STREAM)
def campaign_events(campaign_id: str, request: Request, user: CurrentUser,
                    service: ServiceDep, hub: HubDep, slots: Slots) -> Response:
    """Every job of the campaign, including ones started later; ends when the client leaves."""
    jobs = [view_of(job) for job in service.campaign_jobs(user.id, campaign_id)]
    return campaign_stream(hub, campaign_id, jobs,
                           request.state.credentials, slot=(slots, user.id))
