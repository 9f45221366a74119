"""How jobs, campaigns and creators look in JSON (camelCase): for the API, the event streams,
the CLI and the exports alike."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any, NamedTuple

from scrapetrack.creators import http_url
from scrapetrack.jobs import JobRecord, eta_seconds
from scrapetrack.store.campaign_list import CreatorPage
from scrapetrack.store.models import Campaign, CampaignCreator, CreatorRow


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _round(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


# ensure_ascii=False: the same text JSONResponse writes, UTF-8 on the wire.
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class JobView(NamedTuple):
    """One version of a job as a stream sends it."""

    id: str
    campaign_id: str
    version: int
    status: str
    payload: str  # the status JSON of this version


def job_status(job: JobRecord) -> dict[str, Any]:
    """The original design's status object, and more (schemas.JobOut)."""
    rate = job.rate_per_second if job.status == "processing" else None
    # A similar search's target counts creators, not the items its stages read: no ETA.
    eta = eta_seconds(rate, job.processed_results, job.target_results) \
        if job.kind == "keyword" else None
    return {
        "id": job.id,
        "status": job.status,
        "progress": job.progress,
        "processedResults": job.processed_results,
        "targetResults": job.target_results,
        "error": job.last_error,
        "platform": job.platform,
        "kind": job.kind,
        "campaignId": job.campaign_id,
        "keywords": job.keywords,
        "targetUsername": job.target_username,
        "stage": job.stage,
        "creatorsCount": job.creators_count,
        "skippedItems": job.skipped_items,
        "ratePerSecond": _round(rate, 2),
        "etaSeconds": _round(eta, 1),
        "version": job.version,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
        "similarTo": similar_to(job),
        # Items of the current run read so far (with creator or skipped).
        "itemsRead": job.items_offset,
        "apifyRunId": job.apify_run_id,
        "statusMessage": job.run_status_message,
        "consoleUrl": job.console_url,
        "costUsd": _round(job.cost_usd, 4),
        "budgetUsd": job.budget_usd,
        # Creators looked up for their numbers after the search (Instagram): how far.
        "profileLookups": (job.stage_state or {}).get("lookups"),
        "scheduleId": job.schedule_id,
        "scheduledFor": iso(job.scheduled_for),
    }


def status_text(job: JobRecord) -> str:
    """job_status as compact JSON."""
    return _compact(job_status(job))


# Each version of a job rendered once in this process: every stream and status poll of that
# version sends the same text (a write always makes a new version). The oldest entries go
# first past the bound.
_RENDERED: dict[tuple[str, int], str] = {}
RENDERED_MAX = 10_000
_rendering = threading.Lock()


def status_payload(job: JobRecord) -> str:
    """The job's status JSON for its version: rendered once, then remembered."""
    key = (job.id, job.version)
    payload = _RENDERED.get(key)
    if payload is None:
        payload = status_text(job)
        with _rendering:
            if len(_RENDERED) >= RENDERED_MAX:
                del _RENDERED[next(iter(_RENDERED))]
            _RENDERED[key] = payload
    return payload


def seed_status_payload(job: JobRecord) -> str:
    """The status as the original design's pollers know it: that design had no `cancelled`,
    so a cancelled job reads as `error` with the error "Cancelled", and such a client stops
    polling."""
    if job.status != "cancelled":
        return status_payload(job)
    return _compact({**job_status(job), "status": "error", "error": "Cancelled"})


def view_of(job: JobRecord) -> JobView:
    return JobView(job.id, job.campaign_id, job.version, job.status, status_payload(job))


def similar_to(job: JobRecord) -> dict[str, Any] | None:
    """What a similar-creators job learnt about its source creator, once it knows."""
    state = job.stage_state or {}
    source, terms = state.get("source"), state.get("terms")
    if job.kind != "similar" or not isinstance(source, dict):
        return None
    return {"handle": source.get("handle"), "displayName": source.get("displayName"),
            "followers": source.get("followers"),
            "engagementRate": _round(source.get("engagementRate"), 4),
            "hashtags": (terms or {}).get("hashtags", []),
            "keywords": (terms or {}).get("keywords", [])}


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "workspaceId": campaign.workspace_id, "name": campaign.name,
            "description": campaign.description, "createdAt": iso(campaign.created_at)}


def creator_json(row: CreatorRow) -> dict[str, Any]:
    return {"id": row.id, "platform": row.platform, "handle": row.handle,
            "displayName": row.display_name, "followers": row.followers,
            "engagementRate": _round(row.engagement_rate, 4), "bio": row.bio,
            # Checked again on the way out: rows saved before the check was made.
            "profileUrl": http_url(row.profile_url), "avatarUrl": http_url(row.avatar_url),
            "matchedKeyword": row.matched_keyword, "verified": row.verified,
            "videos": row.items_count, "similarityScore": _round(row.similarity_score, 4),
            "similarityReason": row.similarity_reason, **_outreach(row)}


def _outreach(row: CreatorRow | CampaignCreator) -> dict[str, Any]:
    return {"emails": row.emails or [], "externalUrl": http_url(row.external_url),
            "country": row.country, "language": row.language}


def campaign_creators_json(found: CreatorPage) -> list[dict[str, Any]]:
    """The campaign list's creators of a page, with their tags and the searches that found
    them."""
    return [{"id": row.id, "platform": row.platform, "handle": row.handle,
             "displayName": row.display_name, "followers": row.followers,
             "engagementRate": _round(row.engagement_rate, 4), "bio": row.bio,
             "profileUrl": http_url(row.profile_url), "avatarUrl": http_url(row.avatar_url),
             "verified": row.verified, "similarityScore": _round(row.similarity_score, 4),
             **_outreach(row), "status": row.status, "note": row.note, "tags": found.tags[row.id],
             "foundBy": found.found_by[row.id], "firstSeenAt": iso(row.first_seen_at),
             "lastSeenAt": iso(row.last_seen_at)}
            for row in found.items]
