"""Live progress: one stream per job, or one per campaign for a browser tab."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from scrapetrack.events.slots import StreamSlots
from scrapetrack.exceptions import InputError
from scrapetrack.serializers import view_of
from scrapetrack.store.workspaces import membership
from scrapetrack.web.deps import HubDep, KnownUser, ServiceDep, require_user
from scrapetrack.web.openapi import ANY, EVENTS, errors
from scrapetrack.web.sse import campaign_stream, job_stream

router = APIRouter(prefix="/api", tags=["events"])
STREAM = {200: {"description": "text/event-stream of `progress` events (the job status)",
                "content": {"text/event-stream": {"schema": {"type": "string"},
                                                  "example": EVENTS}}},
          **errors(404, *ANY)}


MAX_EVENT_ID_DIGITS = 18


# The trivial dependencies are async: a sync one costs a thread hop (see deps.py).
async def last_event_id(
        header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        query: Annotated[str | None, Query(alias="lastEventId")] = None) -> str:
    """As sent: checked by the route once it knows who is asking (a 401 comes first)."""
    return (header or query or "").strip()


def event_id(raw: str) -> int | None:
    """The version a client last saw (None: none, or not a number)."""
    # isdigit() alone also takes "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit()):
        return None
    if len(raw) > MAX_EVENT_ID_DIGITS:  # no version is that large; int() would refuse it
        raise InputError(f"Last-Event-ID must be a whole number up to {MAX_EVENT_ID_DIGITS} "
                         "digits")
    return int(raw)


async def stream_slots(request: Request) -> StreamSlots:
    slots: StreamSlots = request.app.state.stream_slots
    return slots


Slots = Annotated[StreamSlots, Depends(stream_slots)]


@router.get("/jobs/{job_id}/events", response_class=Response, responses=STREAM)
def job_events(job_id: str, request: Request, known: KnownUser, service: ServiceDep,
               hub: HubDep, slots: Slots,
               since: Annotated[str, Depends(last_event_id)]) -> Response:
    """The job's status on every change; ends after its terminal status."""
    # After a restart every page connects at once: one thread hop, and one read (the access
    # check in it) when this process remembers who is asking.
    user = known if known is not None else require_user(request)
    last_seen = event_id(since)
    found = service.job_state(user, job_id)
    return job_stream(hub, view_of(found), last_seen,
                      resting_on(request, found.workspace_id, user.id), slot=(slots, user.id))


@router.get("/campaigns/{campaign_id}/events", response_class=Response, responses=STREAM)
def campaign_events(campaign_id: str, request: Request, known: KnownUser,
                    service: ServiceDep, hub: HubDep, slots: Slots) -> Response:
    """Every job of the campaign, including ones started later; ends when the client leaves."""
    user = known if known is not None else require_user(request)
    workspace_id, jobs = service.campaign_state(user, campaign_id)
    return campaign_stream(hub, campaign_id, [view_of(job) for job in jobs],
                           resting_on(request, workspace_id, user.id), slot=(slots, user.id))


def resting_on(request: Request, workspace_id: str, user_id: str) -> tuple[str, ...]:
    """What a stream stands on: the request's token or session, and its user's membership
    of the workspace (the hub checks both again, and ends the stream once one is gone)."""
    return (*request.state.credentials, membership(workspace_id, user_id))
