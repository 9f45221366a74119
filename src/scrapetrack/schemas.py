"""The HTTP API's bodies, as the original design names their fields (camelCase): the routes
answer with these models, the OpenAPI description and its examples come from them, and the
CLI's client reads every answer into them. A job has one public shape, `JobOut`, wherever it
appears: an answer, a list, a campaign, an event stream."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

JOB_ID = "3f6c1a52-8d1e-4f2b-9a57-1c2d3e4f5a6b"
CAMPAIGN_ID = "9b2e7c10-4a3d-4e5f-8a6b-7c8d9e0f1a2b"
WORKSPACE_ID = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"
USER_ID = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
Role = Literal["owner", "admin", "member", "viewer"]
WHEN = "2025-03-01T10:00:00.120Z"
JobStatus = Literal["pending", "processing", "completed", "error", "timeout", "cancelled"]
CreatorStatus = Literal["new", "shortlisted", "contacted", "excluded"]
MAX_ID = 2**31 - 1  # creators' ids are 32-bit integers in the database


class Body(BaseModel):
    # Fields a newer server adds are ignored by an older client, and vice versa.
    model_config = ConfigDict(extra="ignore")


# --- requests --------------------------------------------------------------------------------
class CampaignIn(Body):
    name: str = Field(examples=["Spring fitness launch"])
    description: str | None = Field(default=None, examples=["Coaches for the new app"])
    workspaceId: str | None = Field(default=None, examples=[WORKSPACE_ID],
                                    description="default: your personal workspace")


class CreatorChangeIn(Body):
    status: CreatorStatus | None = Field(default=None, examples=["shortlisted"])
    note: str | None = Field(default=None, examples=["Asked for rates on 3 March"],
                             description="replaces the note; null clears it")
    tags: list[str] | None = Field(default=None, examples=[["spring", "yoga"]],
                                   description="replaces the tags")


class CreatorBulkIn(Body):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(
        examples=[[12, 15, 31]], description="the creators' ids")
    status: CreatorStatus | None = Field(default=None, examples=["contacted"])
    addTags: list[str] = Field(default=[], examples=[["wave 1"]])
    removeTags: list[str] = Field(default=[], examples=[[]])


class WorkspaceIn(Body):
    name: str = Field(examples=["Acme marketing"])


class MemberRoleIn(Body):
    role: Literal["admin", "member", "viewer"] = Field(examples=["member"])


class InvitationIn(Body):
    email: str = Field(examples=["sam@example.com"])
    role: Literal["admin", "member", "viewer"] = Field(examples=["member"])


class TransferIn(Body):
    userId: str = Field(examples=[USER_ID], description="the member who becomes the owner")


class RerunIn(Body):
    targetResults: int | None = Field(
        default=None, examples=[500], description="the new search's target; the same as "
        "before when not given")


class SearchIn(Body):
    campaignId: str = Field(examples=[CAMPAIGN_ID])
    keywords: list[str] | None = Field(default=None, examples=[["fitness coach"]])
    targetUsername: str | None = Field(default=None, examples=[None],
                                       description="a similar-creators search: whose")
    targetResults: int | None = Field(default=None, examples=[200])
    budgetUsd: float | None = Field(default=None, examples=[1.5],
                                    description="the most this search's Apify runs may charge")


# --- answers ---------------------------------------------------------------------------------
class ErrorOut(Body):
    """Every error answer: one sentence a person understands."""

    error: str = Field(description="What went wrong, and often what to do about it",
                       examples=["Job not found"])


class CampaignOut(Body):
    id: str = Field(examples=[CAMPAIGN_ID])
    workspaceId: str = Field(examples=[WORKSPACE_ID])
    name: str = Field(examples=["Spring fitness launch"])
    description: str | None = Field(examples=["Coaches for the new app"])
    createdAt: str = Field(examples=[WHEN], description="ISO 8601, UTC")


class SimilarToOut(Body):
    """What a similar-creators search learnt about its source creator."""

    handle: str | None = Field(examples=["coach.maria"])
    displayName: str | None = Field(examples=["Maria | Coach"])
    followers: int | None = Field(examples=[182000])
    engagementRate: float | None = Field(examples=[0.0734])
    hashtags: list[str] = Field(examples=[["fitness", "hiit"]])
    keywords: list[str] = Field(examples=[["coach"]])


class ProfileLookupsOut(Body):
    """How far looking up the creators found without their numbers (Instagram) stands."""

    total: int = Field(examples=[40])
    done: int = Field(examples=[32])
    failed: int = Field(examples=[1])


class JobOut(Body):
    """A search: the original design's status object, and more."""

    id: str = Field(examples=[JOB_ID])
    status: JobStatus = Field(examples=["processing"])
    progress: int = Field(ge=0, le=100, examples=[42])
    processedResults: int = Field(examples=[84])
    targetResults: int = Field(examples=[200])
    error: str | None = Field(examples=[None])
    platform: str = Field(examples=["tiktok"])
    kind: Literal["keyword", "similar"] = Field(examples=["keyword"])
    campaignId: str = Field(examples=[CAMPAIGN_ID])
    keywords: list[str] | None = Field(examples=[["fitness coach"]])
    targetUsername: str | None = Field(examples=[None])
    stage: str = Field(examples=["searching"])
    creatorsCount: int = Field(examples=[61])
    skippedItems: int = Field(examples=[2])
    ratePerSecond: float | None = Field(examples=[12.5], description="items a second, now")
    etaSeconds: float | None = Field(examples=[9.3])
    version: int = Field(examples=[17], description="grows with every change: the ETag")
    createdAt: str = Field(examples=[WHEN])
    updatedAt: str = Field(examples=["2025-03-01T10:00:09.480Z"])
    startedAt: str | None = Field(examples=["2025-03-01T10:00:00.310Z"])
    finishedAt: str | None = Field(examples=[None])
    similarTo: SimilarToOut | None = Field(examples=[None])
    itemsRead: int = Field(examples=[86], description="items of the current run read")
    apifyRunId: str | None = Field(examples=["HG7ML7M8z78YcAPEB"])
    statusMessage: str | None = Field(examples=["Scraped 86 of 200 items"])
    consoleUrl: str | None = Field(
        examples=["https://console.apify.com/actors/runs/HG7ML7M8z78YcAPEB"])
    costUsd: float | None = Field(examples=[0.0258])
    budgetUsd: float | None = Field(examples=[None])
    profileLookups: ProfileLookupsOut | None = Field(examples=[None])


class JobPageOut(Body):
    items: list[JobOut]
    nextCursor: str | None = Field(examples=[None],
                                   description="pass as `cursor` for the next page")


class WorkspaceOut(Body):
    id: str = Field(examples=[WORKSPACE_ID])
    name: str = Field(examples=["Acme marketing"])
    personal: bool = Field(examples=[False], description="a user's own workspace")
    role: Role = Field(examples=["admin"], description="yours in it")
    members: int = Field(examples=[4])
    createdAt: str = Field(examples=[WHEN])


class MemberOut(Body):
    userId: str = Field(examples=[USER_ID])
    email: str = Field(examples=["sam@example.com"])
    role: Role = Field(examples=["member"])
    joinedAt: str = Field(examples=[WHEN])


class InvitationOut(Body):
    id: str = Field(examples=[JOB_ID])
    email: str = Field(examples=["sam@example.com"])
    role: Role = Field(examples=["member"])
    createdAt: str = Field(examples=[WHEN])
    expiresAt: str = Field(examples=[WHEN])
    link: str | None = Field(default=None, examples=["https://scrapetrack.example/invitations/"
                                                     "Zm9vYmFy"],
                             description="the one-time link: in the answer that creates it "
                                         "only")


class AcceptedOut(Body):
    workspace: WorkspaceOut


class AuditOut(Body):
    id: int = Field(examples=[812])
    at: str = Field(examples=[WHEN])
    actor: str | None = Field(examples=["sam@example.com"],
                              description="who; null for the operator at the shell")
    action: str = Field(examples=["search.started"])
    target: str | None = Field(examples=[JOB_ID])
    detail: dict[str, object] | None = Field(examples=[{"campaignId": CAMPAIGN_ID}])


class AuditPageOut(Body):
    items: list[AuditOut]
    nextCursor: str | None = Field(examples=[None],
                                   description="pass as `cursor` for the next page")


class CampaignDetailOut(CampaignOut):
    scrapingJobs: list[JobOut]
    costUsd: float = Field(examples=[0.0258], description="what its searches cost so far")


class CreatorFields(Body):
    """What a creator is, in a search's results and in a campaign's list alike."""

    id: int = Field(examples=[12])
    platform: str = Field(examples=["tiktok"])
    handle: str = Field(examples=["coach.maria"])
    displayName: str | None = Field(examples=["Maria | Coach"])
    followers: int | None = Field(examples=[182000])
    engagementRate: float | None = Field(examples=[0.0734])
    bio: str | None = Field(examples=["Online fitness coach"])
    profileUrl: str | None = Field(examples=["https://www.tiktok.com/@coach.maria"])
    avatarUrl: str | None = Field(examples=["https://p16-sign.tiktokcdn.com/avatar.jpeg"])
    verified: bool = Field(examples=[False])
    similarityScore: float | None = Field(examples=[None])
    emails: list[str] = Field(examples=[["maria@coachmaria.fit"]],
                              description="addresses found in the bio")
    externalUrl: str | None = Field(examples=["https://coachmaria.fit"],
                                    description="the bio link or website")
    country: str | None = Field(examples=["US"], description="as the platform gives it")
    language: str | None = Field(examples=["en"])


class CreatorOut(CreatorFields):
    """A creator a search found."""

    matchedKeyword: str | None = Field(examples=["fitness coach"])
    videos: int = Field(examples=[3], description="its items the search found")
    similarityReason: str | None = Field(examples=[None])


class CampaignCreatorOut(CreatorFields):
    """A creator of the campaign's list (found by one search or several): the newest numbers
    seen, and the team's own status, note and tags."""

    status: CreatorStatus = Field(examples=["shortlisted"])
    note: str | None = Field(examples=[None])
    tags: list[str] = Field(examples=[["spring"]])
    foundBy: list[str] = Field(examples=[[JOB_ID]],
                               description="the ids of the searches that found it")
    firstSeenAt: str = Field(examples=[WHEN])
    lastSeenAt: str = Field(examples=[WHEN])


class CampaignCreatorPageOut(Body):
    items: list[CampaignCreatorOut]
    nextCursor: str | None = Field(examples=[None],
                                   description="pass as `cursor` for the next page")
    total: int = Field(examples=[1], description="creators matching the filters")


class BulkOut(Body):
    updated: int = Field(examples=[3], description="creators of the campaign changed")


class DeliveryOut(Body):
    """What a QStash delivery did; each field appears only when it applies."""

    jobId: str | None = Field(default=None, description="the job it advanced",
                              examples=[JOB_ID])
    parked: bool | None = Field(default=None, description="it goes on in the next message",
                                examples=[True])
    reaped: bool | None = Field(default=None, description="a reaper tick ran",
                                examples=[None])
    replayed: bool | None = Field(default=None, description="a copy of one handled: not run",
                                  examples=[None])


class HealthOut(Body):
    status: Literal["ok"] = Field(examples=["ok"])
