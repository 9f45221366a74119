"""Request bodies, as the original design names their fields (camelCase)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"name": "Spring fitness launch", "description": "Coaches for the new app"}]})
    name: str = Field(examples=["Spring fitness launch"])
    description: str | None = Field(default=None, examples=["Coaches for the new app"])


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"campaignId": "9b2e7c10-4a3d-4e5f-8a6b-7c8d9e0f1a2b", "keywords": ["fitness coach"],
         "targetResults": 200}]})
    campaignId: str  # the original design's field names
    keywords: list[str] | None = Field(default=None, examples=[["fitness coach"]])
    targetUsername: str | None = None
    targetResults: int | None = Field(default=None, examples=[200])
    # The most this search's Apify runs may charge, in USD.
    budgetUsd: float | None = Field(default=None, examples=[1.5])
