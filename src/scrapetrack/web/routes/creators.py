"""A campaign's creator list: every search's creators once, and the team's work on them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import StreamingResponse

from scrapetrack.exports import check_format, pick_fields
from scrapetrack.schemas import (
    MAX_ID,
    BulkOut,
    CampaignCreatorOut,
    CampaignCreatorPageOut,
    CreatorBulkIn,
    CreatorChangeIn,
    CreatorStatus,
)
from scrapetrack.serializers import campaign_creators_json
from scrapetrack.service import MAX_PAGE
from scrapetrack.store.campaign_list import CreatorFilter, CreatorPage, WorkflowChange
from scrapetrack.web.deps import CurrentUser, ServiceDep
from scrapetrack.web.downloads import FILE, FILE_CONTENT, export_response
from scrapetrack.web.openapi import ANY, UNSAFE, errors

router = APIRouter(prefix="/api/campaigns/{campaign_id}/creators", tags=["creators"])
Count = Annotated[int | None, Query(ge=0, le=2**62)]


def creator_filter(
        platform: str | None = None, status: CreatorStatus | None = None,
        tag: str | None = None,
        min_followers: Annotated[Count, Query(alias="minFollowers")] = None,
        max_followers: Annotated[Count, Query(alias="maxFollowers")] = None,
        min_engagement: Annotated[float | None, Query(alias="minEngagement", ge=0,
                                                      le=1e6)] = None,
        verified: bool | None = None,
        q: Annotated[str | None, Query(description="text in the handle, name or bio")] = None,
        has_email: Annotated[bool | None, Query(alias="hasEmail")] = None,
        country: Annotated[str | None, Query(description="as the platform gives it: a code "
                                                          "(US) or a name (France)")] = None,
        language: Annotated[str | None, Query(description="a code, e.g. en")] = None,
) -> CreatorFilter:
    """The list's filters, the same for a page and an export."""
    return CreatorFilter(platform=platform, status=status, tag=tag,
                         min_followers=min_followers, max_followers=max_followers,
                         min_engagement=min_engagement, verified=verified, q=q,
                         has_email=has_email, country=country, language=language)


Filter = Annotated[CreatorFilter, Depends(creator_filter)]
Sort = Annotated[str, Query(description="followers, engagement, similarity or newest; a "
                                        "leading - for descending")]
LIST_FIELDS = tuple(CampaignCreatorOut.model_fields)


@router.get("", responses=errors(400, 404, *ANY))
def list_campaign_creators(
        campaign_id: str, user: CurrentUser, service: ServiceDep, wanted: Filter,
        sort: Sort = "-followers", limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: str | None = None) -> CampaignCreatorPageOut:
    """The campaign's creators, each once however many of its searches found it."""
    return creator_page(service.campaign_creators(user, campaign_id, wanted, sort=sort,
                                                  limit=limit, cursor=cursor))


def creator_page(found: CreatorPage) -> CampaignCreatorPageOut:
    return CampaignCreatorPageOut(
        items=[CampaignCreatorOut(**item) for item in campaign_creators_json(found)],
        nextCursor=found.next_cursor, total=found.total)


@router.get("/export", response_class=StreamingResponse, responses={
    200: {**FILE, "content": {**FILE_CONTENT, "application/json": {"schema": {
        "type": "array", "items": {"$ref": "#/components/schemas/CampaignCreatorOut"}}}}},
    **errors(400, 404, *ANY)})
def export_campaign_creators(
        campaign_id: str, user: CurrentUser, service: ServiceDep, wanted: Filter,
        sort: Sort = "-followers",
        format: Annotated[str, Query(description="csv, json or xlsx")] = "csv",
        fields: Annotated[str | None, Query(description="the columns, comma-separated, in "
                                                        "order (default: all)")] = None,
) -> StreamingResponse:
    """The whole list, with the filters and sort given, as a file; streamed a page at a
    time, however long the list."""
    fmt, picked = check_format(format), pick_fields(fields, LIST_FIELDS)
    pages = service.campaign_creator_pages(user, campaign_id, wanted, sort, fmt)
    return export_response(fmt, (item for page in pages for item in
                                 campaign_creators_json(page)), picked,
                           f"campaign-{campaign_id}-creators")


@router.patch("/{creator_id}", responses=errors(400, 404, *UNSAFE, *ANY))
def change_campaign_creator(campaign_id: str,
                            creator_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                            body: CreatorChangeIn,
                            user: CurrentUser, service: ServiceDep) -> CampaignCreatorOut:
    """Set a creator's workflow status, note or tags (the fields given)."""
    found = service.change_campaign_creator(user, campaign_id, creator_id, WorkflowChange(
        status=body.status, note=body.note, set_note="note" in body.model_fields_set,
        tags=body.tags))
    return CampaignCreatorOut(**campaign_creators_json(found)[0])


@router.post("/bulk", responses=errors(400, 404, *UNSAFE, *ANY))
def change_campaign_creators(campaign_id: str, body: CreatorBulkIn, user: CurrentUser,
                             service: ServiceDep) -> BulkOut:
    """The same status or tag change to many creators of the list."""
    return BulkOut(updated=service.change_campaign_creators(
        user, campaign_id, body.ids, WorkflowChange(
            status=body.status, add_tags=body.addTags, remove_tags=body.removeTags)))
