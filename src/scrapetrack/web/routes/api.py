"""The JSON API of CONTRACT.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from scrapetrack.exceptions import InputError, JobNotFound
from scrapetrack.exports import MEDIA_TYPES, check_format, pick_fields
from scrapetrack.jobs import JobRecord
from scrapetrack.schemas import (
    CampaignDetailOut,
    CampaignIn,
    CampaignOut,
    CreatorOut,
    JobOut,
    JobPageOut,
    RerunIn,
    SearchIn,
)
from scrapetrack.serializers import campaign_json, creator_json, job_status, seed_status_payload
from scrapetrack.service import MAX_PAGE, SearchRequest, check_platform, looks_like_id
from scrapetrack.store.search_history import JobFilter
from scrapetrack.web.deps import (
    AccountsDep,
    CurrentUser,
    ServiceDep,
    StoreDep,
    bearer_token,
    require_user,
)
from scrapetrack.web.downloads import FILE, FILE_CONTENT, export_response
from scrapetrack.web.openapi import ANY, CSV, UNSAFE, errors

router = APIRouter(prefix="/api", tags=["api"])


def known_platform(platform: str) -> str:
    """Checked before the body, so an unknown platform is a 404 whatever was posted."""
    return check_platform(platform)


Platform = Annotated[str, Depends(known_platform)]


@router.post("/campaigns", status_code=201, responses=errors(400, 404, *UNSAFE, *ANY))
def create_campaign(body: CampaignIn, user: CurrentUser, service: ServiceDep) -> CampaignOut:
    return CampaignOut(**campaign_json(service.create_campaign(
        user, body.name, body.description, body.workspaceId)))


@router.get("/campaigns", responses=errors(*ANY))
def list_campaigns(user: CurrentUser, service: ServiceDep) -> list[CampaignOut]:
    return [CampaignOut(**campaign_json(c)) for c in service.list_campaigns(user)]


@router.get("/campaigns/{campaign_id}", responses=errors(404, *ANY))
def get_campaign(campaign_id: str, user: CurrentUser, service: ServiceDep) -> CampaignDetailOut:
    campaign = service.get_campaign(user, campaign_id)
    jobs = service.campaign_jobs(user, campaign.id)
    return CampaignDetailOut(**campaign_json(campaign),
                             scrapingJobs=[JobOut(**job_status(j)) for j in jobs],
                             costUsd=round(sum(j.cost_usd or 0.0 for j in jobs), 4))


@router.delete("/campaigns/{campaign_id}", status_code=204, response_class=Response,
               responses=errors(404, 502, *UNSAFE, *ANY))
def delete_campaign(campaign_id: str, user: CurrentUser, service: ServiceDep) -> Response:
    """Delete a campaign with all its searches and its creator list; running searches are
    cancelled first and their Apify runs aborted."""
    service.delete_campaign(user, campaign_id)
    return Response(status_code=204)


@router.post("/scraping/{platform}", status_code=202,
             responses=errors(400, 402, 404, *UNSAFE, *ANY))
def start_search(user: CurrentUser, platform: Platform, body: SearchIn,
                 service: ServiceDep) -> JobOut:
    job = service.start_search(user, SearchRequest(
        platform=platform, campaign_id=body.campaignId, keywords=body.keywords,
        target_username=body.targetUsername, target_results=body.targetResults,
        budget_usd=body.budgetUsd))
    return JobOut(**job_status(job))


@router.get("/scraping/{platform}", response_model=JobOut, responses={
    **errors(400, 404, *ANY),
    304: {"description": "Not modified: the job's version is the one in If-None-Match"}})
async def search_status(platform: str, request: Request, store: StoreDep,
                        service: ServiceDep, accounts: AccountsDep,
                        job_id: str | None = Query(default=None, alias="jobId"),
                        if_none_match: str | None = Header(default=None)) -> Any:
    """The original design's status. Its ETag names the job's version, so a poller that sends
    it back in `If-None-Match` gets a bodiless 304 until the job changes."""

    def read() -> JobRecord:
        token = bearer_token(request)
        if token is None:  # a browser's session
            user = require_user(request)
            check_platform(platform)
            return service.job_state(user, _required(job_id))
        # Scripts polling with a token: the token and the job are read in one statement.
        found = accounts.job_state(token, job_id if job_id and looks_like_id(job_id) else "")
        check_platform(platform)
        _required(job_id)
        if found is None:
            raise JobNotFound()
        return found

    # The original design's pollers call this route most. On SQLite the reads are of a local
    # file, and WAL readers never wait for writers: done here, they cost far less than a hop to the
    # threadpool (a token's last use is only noted: see token_uses.py). A database across a
    # network is read on the threadpool, authentication and job in one hop.
    if store.local:
        job = read()
    else:
        job = await run_in_threadpool(read)
    tag = f'"{job.id}.{job.version}"'
    # Kept by no cache; a poller keeps the ETag itself and sends it back.
    headers = {"ETag": tag, "Cache-Control": "no-store"}
    if if_none_match is not None and tag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(seed_status_payload(job), media_type="application/json", headers=headers)


def _required(job_id: str | None) -> str:
    if not job_id:
        raise InputError("Job ID is required")
    return job_id


@router.post("/jobs/{job_id}/cancel", status_code=202,
             responses=errors(404, 409, 502, *UNSAFE, *ANY))
def cancel_job(job_id: str, user: CurrentUser, service: ServiceDep) -> JobOut:
    return JobOut(**job_status(service.cancel_job(user, job_id)))


@router.post("/jobs/{job_id}/rerun", status_code=202,
             responses=errors(400, 402, 404, 409, *UNSAFE, *ANY))
def rerun_job(job_id: str, user: CurrentUser, service: ServiceDep,
              body: RerunIn | None = None) -> JobOut:
    """A new search with an ended search's input, in the same campaign; `targetResults`
    changes its target."""
    target = body.targetResults if body is not None else None
    return JobOut(**job_status(service.rerun_job(user, job_id, target)))


@router.delete("/jobs/{job_id}", status_code=204, response_class=Response,
               responses=errors(404, 502, *UNSAFE, *ANY))
def delete_job(job_id: str, user: CurrentUser, service: ServiceDep) -> Response:
    """Delete a search with its creators (cancelled first if it runs, its Apify run aborted);
    creators of the campaign's list that only it found go too."""
    service.delete_job(user, job_id)
    return Response(status_code=204)


@router.get("/jobs/{job_id}/results", response_model=list[CreatorOut], responses={
    200: {**FILE, "content": {**FILE_CONTENT, MEDIA_TYPES["csv"]: {
        **FILE_CONTENT[MEDIA_TYPES["csv"]], "example": CSV}}},
    **errors(400, 404, *ANY)})
def job_results(job_id: str, user: CurrentUser, service: ServiceDep, response: Response,
                format: Annotated[str, Query(description="json, csv or xlsx")] = "json",
                fields: Annotated[str | None, Query(
                    description="the columns, comma-separated, in order (default: all)")] = None,
                after_id: int | None = Query(default=None, alias="afterId", ge=0,
                                             le=2**31 - 1),
                sort: Annotated[str | None, Query(
                    description="followers, engagement or similarity, the most first (default: "
                                "followers; similarity for a similar-creators search)")] = None,
                min_followers: Annotated[int | None, Query(
                    alias="minFollowers", ge=0, le=2**62,
                    description="only creators known to have at least this many")] = None,
                limit: Annotated[int | None, Query(
                    ge=1, le=MAX_PAGE, description="at most this many; the answer's "
                    "X-Total-Count header then says how many the search's table holds")] = None,
                ) -> Any:
    """The creators found, most followed first; with `afterId`, only those found after the
    creator with that `id`, in the order found (to stream rows in while the job runs)."""
    fmt = check_format(format)
    picked = pick_fields(fields, JOB_FIELDS)
    rows = service.results(user, job_id, after_id, sort=sort, min_followers=min_followers,
                           limit=limit, file_format=None if fmt == "json" else fmt)
    total = {"X-Total-Count": str(service.count_results(user, job_id))} if limit else {}
    if fmt == "json" and fields is None:
        response.headers.update(total)
        return [CreatorOut(**creator_json(r)) for r in rows]
    answer = export_response(fmt, (creator_json(r) for r in rows), picked, f"creators-{job_id}")
    answer.headers.update(total)
    return answer


JOB_FIELDS = tuple(CreatorOut.model_fields)


@router.get("/jobs", responses=errors(400, 404, *ANY))
def list_jobs(user: CurrentUser, service: ServiceDep,
              status: str | None = Query(default=None, description="only jobs in this status"),
              platform: str | None = None,
              kind: str | None = Query(default=None, description="keyword or similar"),
              campaign_id: str | None = Query(default=None, alias="campaignId"),
              workspace_id: str | None = Query(default=None, alias="workspaceId"),
              created_from: Annotated[datetime | None, Query(
                  alias="createdFrom", description="created at or after")] = None,
              created_to: Annotated[datetime | None, Query(
                  alias="createdTo", description="created before")] = None,
              q: str | None = Query(default=None, description="text in the keywords or the "
                                                               "similar search's handle"),
              limit: int = Query(default=50, ge=1, le=1000),
              cursor: str | None = None) -> JobPageOut:
    """The searches of your workspaces (or of one), newest first, a page at a time."""
    jobs, next_cursor = service.list_jobs(user, JobFilter(
        status=status, platform=platform, kind=kind, campaign_id=campaign_id,
        workspace_id=workspace_id,
        created_from=aware(created_from), created_to=aware(created_to), q=q),
        limit=limit, cursor=cursor)
    return JobPageOut(items=[JobOut(**job_status(j)) for j in jobs], nextCursor=next_cursor)


def aware(when: datetime | None) -> datetime | None:
    """A time given without a zone is taken as UTC."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


@router.get("/jobs/{job_id}", responses=errors(404, *ANY))
def get_job(job_id: str, user: CurrentUser, service: ServiceDep) -> JobOut:
    """A job's status, whatever its platform."""
    return JobOut(**job_status(service.get_job(user, job_id)))
