"""Request bodies, as the seed names their fields (camelCase)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class ErrorOut(BaseModel):
    """Every error answer."""

    error: str = Field(examples=["Job not found"])
