"""The JSON the API speaks (camelCase), in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scrapetrack.jobs import eta_seconds
from scrapetrack.store.models import Campaign, ScrapingJob


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(examples=["Spring fitness launch"])
    description: str | None = Field(default=None, examples=["Coaches for the new app"])


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    campaignId: str  # the seed's field names
    keywords: list[str] | None = Field(default=None, examples=[["fitness coach"]])
    targetUsername: str | None = None
    targetResults: int | None = Field(default=None, examples=[200])


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_status(job: ScrapingJob) -> dict[str, Any]:
    """The seed's status object, and more."""
    rate = job.rate_per_second if job.status == "processing" else None
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
        "ratePerSecond": round(rate, 2) if rate is not None else None,
        "etaSeconds": _round(eta_seconds(rate, job.processed_results, job.target_results)),
        "version": job.version,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
        "startedAt": iso(job.started_at),
        "finishedAt": iso(job.finished_at),
    }


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    return {"id": campaign.id, "name": campaign.name, "description": campaign.description,
            "createdAt": iso(campaign.created_at)}
