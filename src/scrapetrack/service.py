"""What users can do: campaigns, searches, their status and results. Routes and CLI call this."""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

from scrapetrack.access import MANAGE, READ, WORK, Actor, Role, require
from scrapetrack.budget import new_search_budget
from scrapetrack.config import Settings
from scrapetrack.creators import BIDI_CONTROLS
from scrapetrack.events.base import Notice
from scrapetrack.events.coalesce import CoalescingPublisher
from scrapetrack.exceptions import (
    CampaignNotFound,
    CampaignRateLimited,
    CreatorNotFound,
    InputError,
    JobFinished,
    JobNotFound,
    JobRateLimited,
    JobStillRunning,
    NotFound,
    QueueUnavailable,
    TooManyActiveJobs,
    WorkspaceNotFound,
)
from scrapetrack.jobs import TERMINAL, JobRecord, Status, can_transition
from scrapetrack.logs import job_fields
from scrapetrack.providers.platforms import get_platform
from scrapetrack.store.campaign_list import (
    SORTS,
    WORKFLOW,
    CreatorFilter,
    CreatorPage,
    WorkflowChange,
)
from scrapetrack.store.models import Campaign, CreatorRow, ScrapingJob, new_id
from scrapetrack.store.repository import JOB_SORTS, RATE_WINDOW, Audit, JobCounts, Store
from scrapetrack.store.search_history import JobFilter
from scrapetrack.store.workspaces import Workspaces, record
from scrapetrack.tracing import NO_TRACING, Tracing

log = logging.getLogger(__name__)

MAX_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 100
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_LIST_LIMIT = 1000
MAX_PAGE = 500  # creators per page of a campaign's list, and per bulk change
MAX_TAGS = 20
MAX_TAG_LENGTH = 50
MAX_NOTE_LENGTH = 2000
MAX_QUERY_LENGTH = 200
CREATOR_SORTS = frozenset({*SORTS, *(f"-{name}" for name in SORTS)})
KINDS = ("keyword", "similar")
DEFAULT_SIMILAR_TARGET = 50  # similar creators wanted when targetResults is not given
HANDLE = re.compile(r"[A-Za-z0-9._-]{1,100}")
# Our ids are UUIDs: anything else cannot exist, and never reaches the database (where a NUL
# or a stray surrogate would be an error rather than "not found").
ID = re.compile(r"[0-9A-Fa-f-]{1,64}")
ACTIVE_JOBS_RETRY_SECONDS = 10


class Enqueuer(Protocol):
    def enqueue(self, job_id: str, delay_seconds: float = 0) -> None: ...


class Aborter(Protocol):
    def abort(self, run_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SearchRequest:
    platform: str
    campaign_id: str
    keywords: Sequence[str] | None = None
    target_username: str | None = None
    target_results: int | None = None
    budget_usd: float | None = None


def check_platform(platform: str) -> str:
    return get_platform(platform).name


def check_handle(raw: object, field: str = "targetUsername") -> str:
    """A creator's handle as people type it (`@name` or `name`): 1 to 100 letters, digits,
    '.', '_' or '-'; returned without the '@'."""
    handle = raw.strip().removeprefix("@") if isinstance(raw, str) else ""
    if not HANDLE.fullmatch(handle):
        raise InputError(f"{field} must be a handle of 1 to 100 letters, digits, "
                         "'.', '_' or '-'")
    return handle


def check_text(raw: object, field: str, max_length: int, *, multiline: bool = False,
               required: bool = True) -> str:
    """Trimmed text of at most `max_length` characters, with no control characters (line
    breaks and tabs only where `multiline`) and no bidirectional overrides."""
    text = raw.strip() if isinstance(raw, str) else ""
    if (required and not text) or len(text) > max_length:
        least = 1 if required else 0
        raise InputError(f"{field} must be {least} to {max_length} characters")
    allowed = "\n\r\t" if multiline else ""
    for char in text:
        if char in BIDI_CONTROLS or (unicodedata.category(char) in ("Cc", "Cs")
                                     and char not in allowed):
            raise InputError(f"{field} must not contain control characters")
    return text


def looks_like_id(raw: str) -> bool:
    return bool(ID.fullmatch(raw))


class Service:
    def __init__(self, settings: Settings, store: Store, queue: Enqueuer,
                 provider: Aborter, publisher: CoalescingPublisher,
                 ended: Callable[[str], None] = lambda _job_id: None,
                 tracing: Tracing = NO_TRACING) -> None:
        self.settings = settings
        self.store = store
        self.queue = queue
        self.provider = provider
        self.publisher = publisher
        self.ended = ended  # tells the world (webhooks, notifications)
        self.tracing = tracing
        self.workspaces = Workspaces(store)

    def workspace_role(self, actor: Actor, workspace_id: str) -> str:
        """The actor's role in a workspace of theirs; WorkspaceNotFound for any other."""
        role = None
        if looks_like_id(workspace_id) and actor.workspace_id in (None, workspace_id):
            role = self.workspaces.role(workspace_id, actor.id)
        if role is None:
            raise WorkspaceNotFound()
        return role

    @staticmethod
    def entry(workspace_id: str, actor: Actor | None, action: str, target: str | None = None,
              **detail: object) -> Audit:
        """An audit entry, to write in the transaction of what it records."""
        return lambda s: record(s, workspace_id, actor, action, target, dict(detail) or None)

    # campaigns ----------------------------------------------------------------------------
    def create_campaign(self, actor: Actor, name: str, description: str | None,
                        workspace_id: str | None = None) -> Campaign:
        """In `workspace_id`, by default the one the actor's token is limited to, or their
        personal workspace (whose id is theirs)."""
        workspace_id = workspace_id or actor.workspace_id or actor.id
        require(self.workspace_role(actor, workspace_id), WORK)
        name = check_text(name, "A campaign name", MAX_NAME_LENGTH)
        if description is not None:
            description = check_text(description, "The description", MAX_DESCRIPTION_LENGTH,
                                     multiline=True, required=False) or None
        campaign_id = new_id()
        return self.store.create_campaign(
            actor.id, name, description, self._campaigns_within_limit,
            self.entry(workspace_id, actor, "campaign.created", campaign_id, name=name),
            workspace_id=workspace_id, campaign_id=campaign_id)

    def _campaigns_within_limit(self, now: datetime, created_recently: list[datetime]) -> None:
        """Called by the store inside the transaction that writes the campaign."""
        per_minute = self.settings.campaign_rate_limit_per_minute
        if per_minute and len(created_recently) >= per_minute:
            wait = math.ceil((created_recently[per_minute - 1] + RATE_WINDOW
                              - now).total_seconds())
            raise CampaignRateLimited(f"You can create {per_minute} campaigns a minute; "
                                      f"try again in {max(1, wait)} s", retry_after=wait)

    def list_campaigns(self, actor: Actor, workspace_id: str | None = None,
                       ) -> Sequence[Campaign]:
        if workspace_id is not None:
            self.workspace_role(actor, workspace_id)
        return self.store.list_campaigns(actor, workspace_id)

    def get_campaign(self, actor: Actor, campaign_id: str, least: Role = READ) -> Campaign:
        """A campaign of the actor's workspaces (CampaignNotFound for any other), if their
        role there is at least `least` (Forbidden if not)."""
        found = self.store.get_campaign(actor, campaign_id) if looks_like_id(campaign_id) \
            else None
        if found is None:
            raise CampaignNotFound()
        require(found[1], least)
        return found[0]

    def campaign_jobs(self, actor: Actor, campaign_id: str) -> Sequence[ScrapingJob]:
        return self.store.campaign_jobs(self.get_campaign(actor, campaign_id).id)

    def campaign_state(self, actor: Actor, campaign_id: str) -> tuple[str, list[JobRecord]]:
        """What a campaign's event stream starts from, in one read: the campaign's workspace
        and its jobs (CampaignNotFound, as get_campaign, for one none of the actor's)."""
        found = self.store.campaign_state(campaign_id, actor) \
            if looks_like_id(campaign_id) else None
        if found is None:
            raise CampaignNotFound()
        return found

    # the campaign's creator list ------------------------------------------------------------
    def campaign_creators(self, actor: Actor, campaign_id: str, wanted: CreatorFilter,
                          sort: str = "-followers", limit: int = 50,
                          cursor: str | None = None) -> CreatorPage:
        return self._creator_page(self.get_campaign(actor, campaign_id), wanted, sort, limit,
                                  cursor)

    def _creator_page(self, campaign: Campaign, wanted: CreatorFilter, sort: str, limit: int,
                      cursor: str | None) -> CreatorPage:
        """A page of the list of a campaign the caller may read, the query checked."""
        if sort not in CREATOR_SORTS:
            raise InputError(f"sort must be one of {', '.join(sorted(CREATOR_SORTS))}")
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be from 1 to {MAX_PAGE}")
        if wanted.platform is not None:
            check_platform(wanted.platform)
        if wanted.status is not None and wanted.status not in WORKFLOW:
            raise InputError(f"status must be one of {', '.join(WORKFLOW)}")
        if wanted.tag is not None:
            check_text(wanted.tag, "tag", MAX_TAG_LENGTH)
        if wanted.q is not None:
            check_text(wanted.q, "q", MAX_QUERY_LENGTH, required=False)
        for name, value in (("country", wanted.country), ("language", wanted.language)):
            if value is not None:
                check_text(value, name, MAX_TAG_LENGTH)
        return self.store.campaign_creators(campaign.id, wanted, sort, limit, cursor)

    def campaign_creator_pages(self, actor: Actor, campaign_id: str, wanted: CreatorFilter,
                               sort: str, file_format: str) -> Iterator[CreatorPage]:
        """The whole list, a page after another, for an export (checked, noted in the audit
        trail and first read at once, the rest as the caller goes on)."""
        campaign = self.get_campaign(actor, campaign_id)
        first = self._creator_page(campaign, wanted, sort, MAX_PAGE, None)
        self.store.audit(self.entry(campaign.workspace_id, actor, "export", campaign.id,
                                    format=file_format))

        def pages() -> Iterator[CreatorPage]:
            page: CreatorPage | None = first
            while page is not None:
                yield page
                page = None if page.next_cursor is None else self.store.campaign_creators(
                    campaign_id, wanted, sort, MAX_PAGE, page.next_cursor)

        return pages()

    def change_campaign_creator(self, actor: Actor, campaign_id: str, creator_id: int,
                                what: WorkflowChange) -> CreatorPage:
        """The team's change to one creator of the list; the creator as it now is."""
        campaign = self.get_campaign(actor, campaign_id, WORK)
        if not self.store.change_campaign_creators(campaign.id, [creator_id],
                                                   self._check_change(what)):
            raise CreatorNotFound()
        changed = self.store.campaign_creator(campaign.id, creator_id)
        if changed is None:  # removed meanwhile
            raise CreatorNotFound()
        return changed

    def change_campaign_creators(self, actor: Actor, campaign_id: str, ids: Sequence[int],
                                 what: WorkflowChange) -> int:
        """The same change to many creators of the list (ids of other campaigns' lists are
        left alone); how many changed."""
        campaign = self.get_campaign(actor, campaign_id, WORK)
        if not 1 <= len(ids) <= MAX_PAGE:
            raise InputError(f"ids must name 1 to {MAX_PAGE} creators")
        if what.status is None and not what.add_tags and not what.remove_tags:
            raise InputError("Give a status, addTags or removeTags to change")
        what = self._check_change(what)
        return len(self.store.change_campaign_creators(campaign.id, ids, what))

    @staticmethod
    def _check_change(what: WorkflowChange) -> WorkflowChange:
        if what.status is not None and what.status not in WORKFLOW:
            raise InputError(f"status must be one of {', '.join(WORKFLOW)}")
        note = what.note
        if what.set_note and note is not None:
            note = check_text(note, "note", MAX_NOTE_LENGTH, multiline=True,
                              required=False) or None

        def tags(raw: Sequence[str] | None, field: str) -> list[str] | None:
            if raw is None:
                return None
            if len(raw) > MAX_TAGS:
                raise InputError(f"{field} may hold at most {MAX_TAGS} tags")
            return list(dict.fromkeys(check_text(tag, f"A tag in {field}", MAX_TAG_LENGTH)
                                      for tag in raw))

        return WorkflowChange(status=what.status, note=note, set_note=what.set_note,
                              tags=tags(what.tags, "tags"),
                              add_tags=tags(what.add_tags, "addTags") or [],
                              remove_tags=tags(what.remove_tags, "removeTags") or [])

    # jobs ---------------------------------------------------------------------------------
    def start_search(self, actor: Actor, request: SearchRequest,
                     action: str = "search.started",
                     firing: tuple[str, datetime] | None = None) -> ScrapingJob:
        """Validate everything first, then write the job (and its audit entry) and queue
        it. A schedule's `firing` (its id, the time it fires for) is saved on the job."""
        campaign, request = self.check_search(actor, request)
        # No budget asked for: MAX_CHARGE_USD_PER_SEARCH; either way within the month's.
        budget = self._check_budget(request.budget_usd)
        job_id = new_id()
        values: dict[str, Any] = {
            "id": job_id, "campaign_id": campaign.id, "user_id": actor.id,
            "workspace_id": campaign.workspace_id, "platform": request.platform,
            "kind": "keyword" if request.target_username is None else "similar",
            "keywords": request.keywords, "target_username": request.target_username,
            "target_results": request.target_results}
        if firing is not None:
            values["schedule_id"], values["scheduled_for"] = firing
        # The row is all a worker gets: its job-run span continues this request's trace.
        values["trace_parent"] = self.tracing.trace_parent()
        audit = self.entry(campaign.workspace_id, actor, action, job_id,
                           campaignId=campaign.id)
        job = self.store.create_job(partial(self._within_limits, budget), audit, **values)
        self.publisher.publish(Notice(job.id, job.campaign_id, job.version))
        log.info("job %s created: %s search for %d results", job.id, job.platform,
                 job.target_results, extra=job_fields(job, action=action))
        try:
            self.queue.enqueue(job.id)
        except QueueUnavailable as exc:
            # The job is saved and pending: the reaper queues it once the queue is back.
            log.warning("job %s saved but not queued yet: %s", job.id, exc.message)
        return job

    def get_job(self, actor: Actor, job_id: str, platform: str | None = None,
                least: Role = READ) -> ScrapingJob:
        """A job of the actor's workspaces (JobNotFound for any other), if their role there
        is at least `least` (Forbidden if not)."""
        if platform is not None:
            check_platform(platform)
        found = self.store.job_for(actor, job_id) if looks_like_id(job_id) else None
        if found is None:
            raise JobNotFound()
        require(found[1], least)
        return found[0]

    def job_state(self, actor: Actor, job_id: str, platform: str | None = None) -> JobRecord:
        """What status polling needs: the same answer as get_job, read more cheaply."""
        if platform is not None:
            check_platform(platform)
        if not looks_like_id(job_id):
            raise JobNotFound()
        job = self.store.job_state(job_id, actor)
        if job is None:
            raise JobNotFound()
        return job

    def list_jobs(self, actor: Actor, wanted: JobFilter, limit: int = 50,
                  cursor: str | None = None) -> tuple[Sequence[ScrapingJob], str | None]:
        """The user's searches across campaigns, newest first, and the next page's cursor."""
        if wanted.status is not None and wanted.status not in set(Status):
            raise InputError(f"status must be one of {', '.join(Status)}")
        if wanted.platform is not None:
            check_platform(wanted.platform)
        if wanted.kind is not None and wanted.kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}")
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InputError(f"limit must be from 1 to {MAX_LIST_LIMIT}")
        if wanted.campaign_id is not None and not looks_like_id(wanted.campaign_id):
            raise InputError("campaignId must be a campaign's id")
        if wanted.q is not None:
            check_text(wanted.q, "q", MAX_QUERY_LENGTH, required=False)
        if wanted.workspace_id is not None:
            self.workspace_role(actor, wanted.workspace_id)
        return self.store.search_history(actor, wanted, limit, cursor)

    def cancel_job(self, actor: Actor, job_id: str) -> ScrapingJob:
        job = self.get_job(actor, job_id, least=WORK)
        if job.status == Status.CANCELLED:
            return job
        if not can_transition(Status(job.status), Status.CANCELLED):
            raise JobFinished(f"The job has already ended as {job.status}")
        finished = self.cancel_quietly(job, self.entry(job.workspace_id, actor, "search.cancelled",
                                                job.id))
        return self.get_job(actor, job_id) if finished is None else finished

    def cancel_quietly(self, job: ScrapingJob,
                       audit: Audit | None = None) -> ScrapingJob | None:
        """Cancel a job that may still run and abort its Apify run, whoever asks (access is
        the caller's to check); None if it had ended."""
        finished = self.store.finish(job.id, Status.CANCELLED, error="Cancelled by the user",
                                     audit=audit)
        if finished is None:  # it ended meanwhile
            return None
        self.publisher.publish(Notice(job.id, job.campaign_id, finished.version), final=True)
        log.info("job %s ended cancelled: %d items, %d creators", job.id,
                 finished.processed_results, finished.creators_count,
                 extra=job_fields(finished))
        if finished.apify_run_id:
            self.provider.abort(finished.apify_run_id)
        self.ended(job.id)
        return finished

    def rerun_job(self, actor: Actor, job_id: str,
                  target_results: int | None = None) -> ScrapingJob:
        """A new search with an ended one's input (its target, unless given), in the same
        campaign, under the same checks and limits as any new search."""
        job = self.get_job(actor, job_id, least=WORK)
        if job.status not in TERMINAL:
            raise JobStillRunning(f"The search is still {job.status}: wait for it to end, "
                                  "or cancel it, before running it again")
        similar = job.kind == "similar"
        return self.start_search(actor, SearchRequest(
            platform=job.platform, campaign_id=job.campaign_id,
            keywords=None if similar else job.keywords,
            target_username=job.target_username if similar else None,
            target_results=job.target_results if target_results is None else target_results,
            budget_usd=job.budget_usd), action="search.rerun")

    def delete_job(self, actor: Actor, job_id: str) -> None:
        """Remove a search with its creators (cancelled first if it runs, its Apify run
        aborted); creators of the campaign's list that only it found go too."""
        job = self.get_job(actor, job_id, least=WORK)
        if job.status not in TERMINAL:
            self.cancel_quietly(job)
        if not self.store.delete_jobs([job.id], self.entry(job.workspace_id, actor,
                                                           "search.deleted", job.id)):
            raise JobNotFound()

    def delete_campaign(self, actor: Actor, campaign_id: str) -> None:
        """Remove a campaign with all its searches (the running ones cancelled first, their
        Apify runs aborted) and its creator list."""
        campaign = self.get_campaign(actor, campaign_id, MANAGE)
        for job in self.store.campaign_jobs(campaign.id):
            if job.status not in TERMINAL:
                self.cancel_quietly(job)
        if not self.store.delete_campaign(campaign.id, self.entry(
                campaign.workspace_id, actor, "campaign.deleted", campaign.id,
                name=campaign.name)):
            raise CampaignNotFound()

    def delete_expired(self, now: datetime) -> int:
        """RETENTION_DAYS: delete the searches that finished longer ago, a batch at a time;
        how many."""
        if not self.settings.retention_days:
            return 0
        cutoff = now - timedelta(days=self.settings.retention_days)
        deleted = 0
        while ids := self.store.finished_before(cutoff, MAX_LIST_LIMIT):
            deleted += len(self.store.delete_jobs(ids))
        if deleted:
            log.info("retention: deleted %d searches that finished before %s (RETENTION_DAYS"
                     "=%g)", deleted, cutoff.isoformat(), self.settings.retention_days)
        return deleted

    def remove_user(self, email: str) -> int:
        """Cancel the searches still going in a user's personal workspace (their Apify runs
        aborted), then remove the user with it: their sessions and streams end, and they
        leave every shared workspace, whose campaigns and searches stay. How many searches
        were cancelled."""
        user = self.store.user_by_email(email.strip().lower())
        if user is None:
            raise NotFound(f"No user with email {email.strip()}")
        cancelled = 0
        for status in (Status.PENDING, Status.PROCESSING):
            while jobs := self.store.workspace_jobs(user.id, status=status,
                                                    limit=MAX_LIST_LIMIT):
                cancelled += sum(self.cancel_quietly(job) is not None for job in jobs)
        self.store.delete_user(user.id)
        return cancelled

    def results(self, actor: Actor, job_id: str, after_id: int | None = None, *,
                sort: str | None = None, min_followers: int | None = None,
                limit: int | None = None, file_format: str | None = None,
                ) -> Sequence[CreatorRow]:
        """Most followed first; a similar-creators job's most similar first; or by `sort`.
        With `file_format`, an export: noted in the audit trail."""
        job = self.get_job(actor, job_id)
        if sort is not None and sort not in JOB_SORTS:
            raise InputError(f"sort must be one of {', '.join(JOB_SORTS)}")
        if file_format is not None:
            self.store.audit(self.entry(job.workspace_id, actor, "export", job.id,
                                        format=file_format))
        return self.store.creators(job.id, after_id, by_similarity=job.kind == "similar",
                                   sort=sort, min_followers=min_followers, limit=limit)

    def count_results(self, actor: Actor, job_id: str) -> int:
        return self.store.count_creators(self.get_job(actor, job_id).id)

    def check_search(self, actor: Actor,
                     request: SearchRequest) -> tuple[Campaign, SearchRequest]:
        """A search's input checked as start_search checks it, and normalised, without
        starting it (a schedule saves it to start later); and its campaign. No budget given
        stays None: the ceiling in force applies when it starts."""
        platform = check_platform(request.platform)
        budget = None if request.budget_usd is None else self._check_budget(request.budget_usd)
        campaign = self.get_campaign(actor, request.campaign_id, WORK)
        if request.target_username is not None:
            if request.keywords is not None:
                raise InputError("Give either keywords or targetUsername, not both")
            return campaign, SearchRequest(
                platform, campaign.id, target_username=check_handle(request.target_username),
                target_results=self._check_target(
                    DEFAULT_SIMILAR_TARGET if request.target_results is None
                    else request.target_results), budget_usd=budget)
        return campaign, SearchRequest(
            platform, campaign.id, keywords=self._check_keywords(request.keywords),
            target_results=self._check_target(request.target_results), budget_usd=budget)

    # validation ---------------------------------------------------------------------------
    def _within_limits(self, budget: float | None, counts: JobCounts) -> dict[str, Any]:
        """Called by the store inside the transaction that writes the job (see create_job);
        the job's budget, lowered to what its workspace's month has left (budget.py)."""
        cap = self.settings.max_active_jobs_per_user
        if cap and counts.active >= cap:
            raise TooManyActiveJobs(
                f"You have {counts.active} searches running, the most allowed at once; "
                "wait for one to end or cancel one", retry_after=ACTIVE_JOBS_RETRY_SECONDS)
        per_minute = self.settings.job_rate_limit_per_minute
        if per_minute and len(counts.created_recently) >= per_minute:
            # A slot frees when the per_minute-th newest leaves the one-minute window.
            frees_at = counts.created_recently[per_minute - 1] + RATE_WINDOW
            wait = math.ceil((frees_at - counts.now).total_seconds())
            raise JobRateLimited(f"You can start {per_minute} searches a minute; "
                                 f"try again in {max(1, wait)} s", retry_after=wait)
        return {"budget_usd": new_search_budget(budget, counts.spend)}

    @staticmethod
    def _check_keywords(raw: Sequence[str] | None) -> list[str]:
        if raw is None or isinstance(raw, str):
            raise InputError("keywords must be a list of 1 to 20 search terms")
        keywords = [k.strip() for k in raw if isinstance(k, str)]
        if len(keywords) != len(raw) or not keywords or len(keywords) > MAX_KEYWORDS:
            raise InputError(f"keywords must be a list of 1 to {MAX_KEYWORDS} search terms")
        if any(not k or len(k) > MAX_KEYWORD_LENGTH for k in keywords):
            raise InputError(f"Each keyword must be 1 to {MAX_KEYWORD_LENGTH} characters")
        for keyword in keywords:
            check_text(keyword, "A keyword", MAX_KEYWORD_LENGTH)
        return list(dict.fromkeys(keywords))

    def _check_budget(self, budget: float | None) -> float | None:
        """The most the search may spend: its budgetUsd, within MAX_CHARGE_USD_PER_SEARCH."""
        ceiling = self.settings.max_charge_usd_per_search
        if budget is None:
            return ceiling
        if isinstance(budget, bool) or not isinstance(budget, int | float) \
                or not 0 < budget < float("inf"):
            raise InputError("budgetUsd must be a number of dollars above 0")
        if ceiling is not None and budget > ceiling:
            raise InputError(f"budgetUsd can be at most {ceiling:g} "
                             "(MAX_CHARGE_USD_PER_SEARCH)")
        return float(budget)

    def _check_target(self, target: int | None) -> int:
        cap = self.settings.max_target_results
        if target is None or isinstance(target, bool) or not isinstance(target, int) \
                or not 1 <= target <= cap:
            raise InputError(f"targetResults must be a whole number from 1 to {cap}")
        return target
