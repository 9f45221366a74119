"""The JSON API of CONTRACT.md."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from scrapetrack.exceptions import InputError
from scrapetrack.results import results_csv
from scrapetrack.service import SearchRequest, check_platform
from scrapetrack.views import campaign_json, creator_json, job_status
from scrapetrack.web.deps import CurrentUser, ServiceDep
from scrapetrack.web.schemas import CampaignIn, ErrorOut, SearchIn

router = APIRouter(prefix="/api", tags=["api"])
WHY = {
    400: "Bad input, said in a sentence",
    401: "No credentials, or a token that is not valid",
    403: "Signed in by cookie, but without the page's CSRF token (X-CSRF-Token)",
    404: "Not found, or not yours: the two look the same",
    409: "The job has already ended",
    413: "The request body is larger than MAX_BODY_BYTES",
    422: "A body or parameter of the wrong shape",
    429: "A per-user limit; Retry-After says when to try again",
    502: "The scraping platform failed",
    503: "A backend is unavailable; try again shortly",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait",
                               "schema": {"type": "integer"}}}


def answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, as the OpenAPI description declares them: every /api
    route may answer 401, 422 and 503, all in `{"error": ...}`."""
    declared: dict[int | str, dict[str, Any]] = {}
    for code in sorted({401, 422, 503, *codes}):
        declared[code] = {"model": ErrorOut, "description": WHY[code]}
        if code == 429:
            declared[code]["headers"] = RETRY_AFTER
    return declared


UNSAFE = (403, 413)  # what a POST may add: CSRF, body size


def known_platform(platform: str) -> str:
    """Checked before the body, so an unknown platform is a 404 whatever was posted."""
    return check_platform(platform)


Platform = Annotated[str, Depends(known_platform)]


@router.post("/campaigns", status_code=201, responses=answers(400, *UNSAFE))
def create_campaign(body: CampaignIn, user: CurrentUser, service: ServiceDep) -> dict[str, Any]:
    return campaign_json(service.create_campaign(user.id, body.name, body.description))


@router.get("/campaigns", responses=answers())
def list_campaigns(user: CurrentUser, service: ServiceDep) -> list[dict[str, Any]]:
    return [campaign_json(c) for c in service.list_campaigns(user.id)]


@router.get("/campaigns/{campaign_id}", responses=answers(404))
def get_campaign(campaign_id: str, user: CurrentUser, service: ServiceDep) -> dict[str, Any]:
    campaign = service.get_campaign(user.id, campaign_id)
    jobs = service.campaign_jobs(user.id, campaign.id)
    return {**campaign_json(campaign), "scrapingJobs": [job_status(j) for j in jobs]}


@router.post("/scraping/{platform}", status_code=202,
             responses=answers(400, 404, 429, *UNSAFE))
def start_search(user: CurrentUser, platform: Platform, body: SearchIn,
                 service: ServiceDep) -> dict[str, Any]:
    job = service.start_search(user.id, SearchRequest(
        platform=platform, campaign_id=body.campaignId, keywords=body.keywords,
        target_username=body.targetUsername, target_results=body.targetResults))
    return job_status(job)


@router.get("/scraping/{platform}", responses=answers(400, 404))
def search_status(user: CurrentUser, platform: Platform, service: ServiceDep,
                  job_id: str | None = Query(default=None, alias="jobId")) -> dict[str, Any]:
    if not job_id:
        raise InputError("Job ID is required")
    return job_status(service.get_job(user.id, job_id))


@router.post("/jobs/{job_id}/cancel", status_code=202,
             responses=answers(404, 409, 502, *UNSAFE))
def cancel_job(job_id: str, user: CurrentUser, service: ServiceDep) -> dict[str, Any]:
    return job_status(service.cancel_job(user.id, job_id))


RESULTS: dict[int | str, dict[str, Any]] = {200: {
    "description": "The creators, as JSON or (format=csv) CSV", "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/csv": {"schema": {"type": "string"}}}}}


@router.get("/jobs/{job_id}/results", responses={**answers(404), **RESULTS})
def job_results(job_id: str, user: CurrentUser, service: ServiceDep,
                format: str = Query(default="json", pattern="^(json|csv)$"),
                after_id: int | None = Query(default=None, alias="afterId", ge=0,
                                             le=2**31 - 1)) -> Any:
    """The creators found, most followed first; with `afterId`, only those found after the
    creator with that `id`, in the order found (to stream rows in while the job runs)."""
    rows = service.results(user.id, job_id, after_id)
    if format == "csv":
        return Response(results_csv(rows), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="creators-{job_id}.csv"'})
    return [creator_json(r) for r in rows]
