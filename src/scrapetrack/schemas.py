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


class BudgetIn(Body):
    monthlyUsd: float | None = Field(examples=[50], description="the most the workspace's "
                                     "searches may charge in a calendar month (UTC), in USD; "
                                     "null: no budget")


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
    scheduleId: str | None = Field(default=None, examples=[None],
                                   description="the schedule that started it, if one did")
    scheduledFor: str | None = Field(default=None, examples=[None],
                                     description="the schedule's time it fired for")


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
    monthlyBudgetUsd: float | None = Field(default=None, examples=[50],
                                           description="null: no monthly budget")


class BudgetOut(Body):
    """A workspace's monthly budget and what this month (UTC) has used of it."""

    workspaceId: str = Field(examples=[WORKSPACE_ID])
    month: str = Field(examples=["2025-03"], description="YYYY-MM, UTC")
    monthlyUsd: float | None = Field(examples=[50], description="null: no budget")
    spentUsd: float = Field(examples=[31.2], description="what this month's searches cost "
                            "so far, deleted ones included")
    committedUsd: float = Field(examples=[34.2], description="spent, plus what the running "
                                "searches may still charge (their own budgets)")
    remainingUsd: float | None = Field(examples=[15.8], description="what a new search may "
                                       "still charge this month; null: no budget")
    resetsAt: str = Field(examples=["2025-04-01T00:00:00.000Z"],
                          description="when the next month starts")


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
    deliveryId: int | None = Field(default=None, description="the webhook or notification "
                                   "delivery it attempted", examples=[None])
    reaped: bool | None = Field(default=None, description="a reaper tick ran",
                                examples=[None])
    replayed: bool | None = Field(default=None, description="a copy of one handled: not run",
                                  examples=[None])


class HealthOut(Body):
    status: Literal["ok"] = Field(examples=["ok"])


READY_CHECKS = "store, queue and bus: `ok`, or `down: ` and why"


class ReadyOut(Body):
    status: Literal["ready"] = Field(examples=["ready"])
    version: str = Field(examples=["0.2.0"])
    checks: dict[str, str] = Field(examples=[{"store": "ok", "queue": "ok", "bus": "ok"}],
                                   description=READY_CHECKS)


class NotReadyOut(Body):
    error: str = Field(examples=["not ready: queue down"])
    version: str = Field(examples=["0.2.0"])
    checks: dict[str, str] = Field(examples=[{
        "store": "ok", "bus": "ok", "queue": "down: The job queue is unavailable: Error 111 "
        "connecting to 127.0.0.1:6379. Connection refused."}], description=READY_CHECKS)


# --- saved and scheduled searches -----------------------------------------------------------
SCHEDULE_ID = "6e5d4c3b-2a1f-4e0d-9c8b-7a6f5e4d3c2b"
Missed = Literal["run_once", "skip"]
CRON = ("five fields (minute hour day-of-month month day-of-week), or a macro like @daily, "
        "read in `timezone`")
MISSED = ("what a firing missed while no worker ran does: run_once starts one search (for "
          "the latest time missed), skip starts none")


class ScheduleIn(Body):
    campaignId: str = Field(examples=[CAMPAIGN_ID])
    platform: str = Field(examples=["tiktok"])
    keywords: list[str] | None = Field(default=None, examples=[["fitness coach"]])
    targetUsername: str | None = Field(default=None, examples=[None],
                                       description="a similar-creators search: whose")
    targetResults: int | None = Field(default=None, examples=[200])
    budgetUsd: float | None = Field(default=None, examples=[None],
                                    description="the most each search may charge")
    cron: str = Field(examples=["0 9 * * 1"], description=CRON)
    timezone: str = Field(default="UTC", examples=["Europe/Berlin"],
                          description="an IANA time zone")
    paused: bool = Field(default=False, examples=[False])
    missed: Missed = Field(default="run_once", examples=["run_once"], description=MISSED)


class ScheduleChangeIn(Body):
    """Any subset of ScheduleIn's fields; `{"paused": true}` pauses, `false` resumes."""

    campaignId: str | None = Field(default=None, examples=[None])
    platform: str | None = Field(default=None, examples=[None])
    keywords: list[str] | None = Field(default=None, examples=[None])
    targetUsername: str | None = Field(default=None, examples=[None])
    targetResults: int | None = Field(default=None, examples=[None])
    budgetUsd: float | None = Field(default=None, examples=[None])
    cron: str | None = Field(default=None, examples=[None], description=CRON)
    timezone: str | None = Field(default=None, examples=[None])
    paused: bool | None = Field(default=None, examples=[True])
    missed: Missed | None = Field(default=None, examples=[None], description=MISSED)


class ScheduleOut(Body):
    id: str = Field(examples=[SCHEDULE_ID])
    workspaceId: str = Field(examples=[WORKSPACE_ID])
    campaignId: str = Field(examples=[CAMPAIGN_ID])
    platform: str = Field(examples=["tiktok"])
    kind: Literal["keyword", "similar"] = Field(examples=["keyword"])
    keywords: list[str] | None = Field(examples=[["fitness coach"]])
    targetUsername: str | None = Field(examples=[None])
    targetResults: int = Field(examples=[200])
    budgetUsd: float | None = Field(examples=[None])
    cron: str = Field(examples=["0 9 * * 1"])
    timezone: str = Field(examples=["Europe/Berlin"])
    paused: bool = Field(examples=[False])
    missed: Missed = Field(examples=["run_once"])
    nextFireAt: str | None = Field(examples=["2025-03-03T08:00:00Z"],
                                   description="UTC; null while paused")
    lastFiredAt: str | None = Field(examples=[None], description="the time it last fired for")
    lastJobId: str | None = Field(examples=[None], description="the search it last started")
    lastError: str | None = Field(examples=[None],
                                  description="why its last firing started no search")
    createdBy: str | None = Field(examples=[USER_ID],
                                  description="the user its searches run as: who last saved it")
    createdAt: str = Field(examples=[WHEN])
    updatedAt: str = Field(examples=[WHEN])


# --- webhooks and notifications ------------------------------------------------------------
WebhookEvent = Literal["job.completed", "job.failed", "job.cancelled", "job.few_results"]
WEBHOOK_ID = "2c9d8e7f-6a5b-4c3d-9e8f-7a6b5c4d3e2f"


class WebhookIn(Body):
    url: str = Field(examples=["https://hooks.example.com/scrapetrack"],
                     description="http(s); not a private, loopback or link-local address "
                     "unless WEBHOOK_ALLOW_PRIVATE")
    events: list[WebhookEvent] = Field(examples=[["job.completed", "job.failed"]])
    workspaceId: str | None = Field(default=None, examples=[WORKSPACE_ID],
                                    description="default: your personal workspace")
    fewResultsThreshold: int | None = Field(
        default=None, examples=[20], description="job.few_results: a completed search with "
        "fewer creators than this (default 10)")


class WebhookOut(Body):
    id: str = Field(examples=[WEBHOOK_ID])
    workspaceId: str = Field(examples=[WORKSPACE_ID])
    url: str = Field(examples=["https://hooks.example.com/scrapetrack"])
    events: list[str] = Field(examples=[["job.completed", "job.failed"]])
    fewResultsThreshold: int | None = Field(examples=[None])
    createdAt: str | None = Field(examples=[WHEN])


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
                        description="verifies the webhook-signature header; shown this once")


class AttemptOut(Body):
    attempt: int = Field(examples=[1])
    at: str | None = Field(examples=[WHEN])
    statusCode: int | None = Field(examples=[200], description="the answer's; null: none")
    error: str | None = Field(examples=[None])
    durationMs: int = Field(examples=[84])


class WebhookDeliveryOut(Body):
    id: int = Field(examples=[41])
    messageId: str = Field(examples=["msg_5f0e2c4b9a8d7e6f1a2b3c4d"],
                           description="the webhook-id header, the same on every attempt")
    event: str = Field(examples=["job.completed"])
    jobId: str | None = Field(examples=[JOB_ID])
    status: Literal["pending", "sending", "delivered", "failed"] = Field(
        examples=["delivered"])
    createdAt: str | None = Field(examples=[WHEN])
    nextAttemptAt: str | None = Field(examples=[None],
                                      description="while pending: when it is tried again")
    attempts: list[AttemptOut]


class WebhookDeliveryPageOut(Body):
    items: list[WebhookDeliveryOut]
    nextCursor: str | None = Field(examples=[None],
                                   description="pass as `cursor` for the next page")


class WebhookTestOut(Body):
    deliveryId: int = Field(examples=[42])
    delivered: bool = Field(examples=[True])
    attempt: AttemptOut


class NotificationsIn(Body):
    slackWebhookUrl: str | None = Field(
        default=None, examples=["https://hooks.slack.com/services/T000/B000/XXXX"],
        description="a Slack incoming webhook; null clears it")
    email: str | None = Field(default=None, examples=["sam@example.com"],
                              description="null clears it; needs SMTP_URL")
    onCompleted: bool | None = Field(default=None, examples=[True])
    onFailed: bool | None = Field(default=None, examples=[True])
    onFewResults: bool | None = Field(default=None, examples=[True])
    fewResultsThreshold: int | None = Field(
        default=None, examples=[10], description="a completed search with fewer creators "
        "than this notifies as few results")


class NotificationsOut(Body):
    slackWebhookUrl: str | None = Field(examples=[None])
    email: str | None = Field(examples=["sam@example.com"])
    onCompleted: bool = Field(examples=[True])
    onFailed: bool = Field(examples=[True])
    onFewResults: bool = Field(examples=[True])
    fewResultsThreshold: int = Field(examples=[10])
    updatedAt: str | None = Field(examples=[WHEN])
