"""Similar-creators search: the original design's stages, each one real, each resumable from
the row.

    stage              progress  what happens
    initializing        0        the job is claimed
    fetching_profile   20..39    the platform's profile actor scrapes the source creator and
                                 its recent posts (finer: items read of those asked for)
    analyzing          40        their hashtags and keywords become search terms (pure)
    searching          60..79    the keyword actor runs on those terms; candidates are ingested
                                 page by page, the source creator left out, until the run
                                 ends or `targetResults` distinct candidates are found (the
                                 run is then aborted); finer: items read

What the counts mean here: `targetResults` is the number of similar creators wanted;
`processedResults` the distinct candidates found so far (never more than wanted);
`skippedItems` the search items with no candidate (or the source creator's own);
`itemsRead` the items of the current run read.
    processing         80..99    candidates named without their numbers (Instagram) are
                                 looked up first (`profileLookups`, see lookups.py); then
                                 every candidate is scored against the source (finer: scored)
    completed          100       the runner's final write, once every score is saved

What each step produced is on the job row before the next begins: `stage_state` holds the
source profile, the derived terms and how far scoring got; `apify_run_id` is the run of the
current stage (the profile run, then the search run), saved before any waiting, so a cancel
or a timeout aborts the right one and a takeover re-attaches to it; `items_offset` is where
reading the search run stands. A worker that dies or stops mid-stage leaves a row from which
the next one resumes with no second Apify run and no creator counted twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from scrapetrack.creators import Creator
from scrapetrack.jobs import RateSample, Stage, Status, ingest_rate, stage_progress
from scrapetrack.pipelines.base import JobDriver, LostJob, Outcome
from scrapetrack.pipelines.lookups import look_up_profiles
from scrapetrack.providers.base import ItemsPage
from scrapetrack.providers.platforms import get_platform
from scrapetrack.similarity import Candidate, Profile, Terms, analyze, candidate_terms, score
from scrapetrack.store.models import ScrapingJob

# The search run asks for this many items per result wanted: videos repeat their creators.
SEARCH_ITEMS_PER_RESULT = 2
SCORE_BATCH = 200


async def run_similar_job(runner: JobDriver, job: ScrapingJob) -> Outcome:
    return await SimilarSearch(runner, job).drive()


def profile_size(run_input: Mapping[str, Any]) -> int:
    """How many items a profile run was asked for (posts, or one item per profile)."""
    for key in ("resultsPerPage", "maxResults"):
        value = run_input.get(key)
        if isinstance(value, int) and value > 0:
            return value
    usernames = run_input.get("usernames")
    return len(usernames) if isinstance(usernames, list) and usernames else 1


class SimilarSearch:
    def __init__(self, runner: JobDriver, job: ScrapingJob) -> None:
        self.runner = runner
        self.store = runner.store
        self.settings = runner.settings
        self.job = job
        self.platform = get_platform(job.platform)
        self.handle = (job.target_username or "").lstrip("@")
        self.state: dict[str, Any] = dict(job.stage_state or {})
        self.progress = job.progress  # only the owner writes it: it never goes down

    async def drive(self) -> Outcome:
        if "source" not in self.state:
            ended = await self.fetch_profile()
            if ended is not None:
                return ended
        if "terms" not in self.state:
            ended = await self.analyze()
            if ended is not None:
                return ended
        if self.job.stage != Stage.PROCESSING:
            ended = await self.search()
            if ended.status is not Status.COMPLETED:
                return ended
        if self.platform.build_lookup_input is not None and "scored" not in self.state:
            # Candidates named without their numbers are looked up before they are scored
            # (followers and engagement weigh in the score); resumable like the rest.
            self.job.stage_state = dict(self.state)  # the lookups add to what is kept
            ended = await look_up_profiles(self.runner, self.job, self.platform,
                                           progress=self.bump(stage_progress(Stage.PROCESSING)))
            if ended.status is not Status.COMPLETED:
                return ended
            self.state = dict(self.job.stage_state or {})
        return await self.score()

    # fetching_profile -------------------------------------------------------------------------
    async def fetch_profile(self) -> Outcome | None:
        job, runner = self.job, self.runner
        run_input = self.platform.build_profile_input(self.handle, self.settings)
        size = profile_size(run_input)
        if job.apify_run_id is None or job.apify_dataset_id is None:
            await runner.start_run(job, self.platform.profile_actor_id(self.settings),
                                   run_input, max_items=size, stage=Stage.FETCHING_PROFILE,
                                   progress=self.bump(stage_progress(Stage.FETCHING_PROFILE)))
        # A profile run is small: read whole again after a takeover, kept in memory.
        items: list[dict[str, Any]] = []
        cursor = runner.cursor(job, 0, 0)

        async def collect(page: ItemsPage, now: float) -> None:
            items.extend(page.items)
            before = self.progress
            progress = self.bump(stage_progress(Stage.FETCHING_PROFILE, len(items), size))
            if progress > before:
                await runner.write(job, progress=progress)
            elif not await runner.db(self.store.heartbeat, job.id, runner.worker_id):
                raise LostJob()
            cursor.advance(now, len(page.items), len(items))

        assert job.apify_run_id is not None and job.apify_dataset_id is not None
        run_id = job.apify_run_id
        outcome = await runner.follow(job, run_id, job.apify_dataset_id, cursor, collect)
        if outcome.status is not Status.COMPLETED:
            return dataclasses.replace(
                outcome, error=f"Could not fetch @{self.handle}'s profile: {outcome.error}")
        profile = self.platform.read_profile(items, self.handle)
        if profile is None:
            return Outcome(Status.ERROR, f"@{self.handle} was not found on "
                           f"{self.platform.label}: its profile run returned no creator")
        self.state.update(source=profile.to_json(), profileRunId=run_id)
        # The profile run is done with: the search run takes its place.
        await runner.write(job, stage=Stage.ANALYZING, stage_state=dict(self.state),
                           progress=self.bump(stage_progress(Stage.ANALYZING)),
                           apify_run_id=None, apify_dataset_id=None, items_offset=0)
        job.apify_run_id = job.apify_dataset_id = None
        job.stage = Stage.ANALYZING
        return None

    # analyzing --------------------------------------------------------------------------------
    async def analyze(self) -> Outcome | None:
        terms = analyze(Profile.from_json(self.state["source"]))
        if not terms.search:
            return Outcome(Status.ERROR, f"@{self.handle}'s recent posts have no hashtags or "
                           "keywords to search for similar creators with")
        self.state["terms"] = terms.to_json()
        await self.runner.write(self.job, stage_state=dict(self.state),
                                keywords=list(terms.search))
        self.job.keywords = list(terms.search)
        return None

    # searching --------------------------------------------------------------------------------
    async def search(self) -> Outcome:
        job, runner = self.job, self.runner
        terms = Terms.from_json(self.state["terms"])
        source = Profile.from_json(self.state["source"])
        size = min(self.settings.max_target_results,
                   job.target_results * SEARCH_ITEMS_PER_RESULT)
        if job.stage != Stage.SEARCHING or job.apify_run_id is None \
                or job.apify_dataset_id is None:
            run_input = self.platform.build_keyword_input(list(terms.search), size,
                                                          self.settings)
            await runner.start_run(job, self.platform.actor_id(self.settings), run_input,
                                   max_items=size, stage=Stage.SEARCHING,
                                   progress=self.bump(stage_progress(Stage.SEARCHING)))
            job.stage = Stage.SEARCHING
        excluded = {source.handle.lower(), self.handle.lower()}
        # processedResults counts distinct candidates: never more than the creators asked for.
        found = await runner.db(self.store.creator_keys, job.id)
        cursor = runner.cursor(job, job.items_offset, len(found))

        async def ingest(page: ItemsPage, now: float) -> None:
            creators: list[Creator] = []
            used = 0
            for item in page.items:
                if len(found) >= job.target_results:
                    break
                used += 1
                creator = self.platform.normalize(item, terms.search)
                if creator is None or creator.key[1] in excluded:
                    continue  # no creator, or the source creator: counted as skipped
                found.add(creator.key[1])
                creators.append(dataclasses.replace(
                    creator, terms=candidate_terms(item, terms.keywords)))
            to_offset = cursor.offset + used
            await runner.ingest(
                job, from_offset=cursor.offset, to_offset=to_offset, creators=creators,
                skipped=used - len(creators), processed=len(found),
                progress=self.bump(stage_progress(Stage.SEARCHING, to_offset, size)),
                rate_per_second=ingest_rate([*cursor.samples, RateSample(now, len(found))]))
            cursor.advance(now, used, len(found))
            cursor.done = len(found) >= job.target_results

        assert job.apify_run_id is not None and job.apify_dataset_id is not None
        outcome = await runner.follow(job, job.apify_run_id, job.apify_dataset_id, cursor,
                                      ingest)
        if outcome.status is Status.COMPLETED:
            return outcome
        return dataclasses.replace(
            outcome, error=f"Searching for creators like @{self.handle}: {outcome.error}")

    # processing -------------------------------------------------------------------------------
    async def score(self) -> Outcome:
        job, runner = self.job, self.runner
        source = Profile.from_json(self.state["source"])
        terms = Terms.from_json(self.state["terms"])
        if job.stage != Stage.PROCESSING:
            await runner.write(job, stage=Stage.PROCESSING, rate_per_second=None,
                               progress=self.bump(stage_progress(Stage.PROCESSING)))
            job.stage = Stage.PROCESSING
        current = await runner.db(self.store.get_job, job.id)
        total = current.creators_count if current is not None else 0
        after = int(self.state.get("scoredThrough", 0))
        scored = int(self.state.get("scored", 0))
        while True:
            await runner.check_in(job, heartbeat=False)
            batch = await runner.db(self.store.creators_batch, job.id, after, SCORE_BATCH)
            if not batch:
                return Outcome(Status.COMPLETED)
            scores: list[tuple[int, float, str]] = []
            for row in batch:
                found = score(source, terms, Candidate(
                    handle=row.handle, followers=row.followers,
                    engagement_rate=row.engagement_rate, bio=row.bio, terms=row.terms or []))
                scores.append((row.id, found.score, found.reason))
            after, scored = batch[-1].id, scored + len(batch)
            self.state.update(scoredThrough=after, scored=scored)
            runner.owned(job, await runner.db(
                self.store.save_scores, job.id, runner.worker_id, scores,
                stage_state=dict(self.state),
                progress=self.bump(stage_progress(Stage.PROCESSING, scored, total))))

    def bump(self, progress: int) -> int:
        """Progress never decreases, even when a resumed stage counts again from 0."""
        self.progress = max(self.progress, progress)
        return self.progress
