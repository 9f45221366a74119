"""Profile lookups: the creators a search found without their numbers, looked up through
the platform's profile actor in batches, after the search itself.

Instagram's hashtag posts name their owner only (`ownerUsername`, `ownerFullName`): no
follower count, so no engagement rate. Each batch of owners goes to the profile actor
(`usernames`); its profile items give followers, and their `latestPosts` the engagement
rate. A stage of its own (`processing`, with `profileLookups: {total, done, failed}`):

- the batch and its run are on the job row, in one write, before any waiting
  (`stage_state["batch"]`, `apify_run_id`), so a worker that dies mid-batch leaves one the
  next re-attaches to; the search run stays named in `stage_state["search"]`;
- a creator the run does not return, or every creator of a run that fails, is marked
  "failed" and shows no followers (unknown); the job goes on with the next batch;
- when no lookup run can start (the search's budget is spent, the profile actor refuses),
  every creator left is marked "failed" and the job completes with what it found, its
  status message saying why; a busy platform (402) waits as anywhere else;
- the job's time limit, a cancel or a lost job end it as anywhere else.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from scrapetrack.creators import Creator
from scrapetrack.exceptions import ProviderRejected
from scrapetrack.jobs import Stage, Status
from scrapetrack.pipelines.base import JobDriver, LostJob, Outcome
from scrapetrack.providers.base import ItemsPage
from scrapetrack.providers.platforms import Platform
from scrapetrack.store.models import ScrapingJob

log = logging.getLogger(__name__)


async def look_up_profiles(runner: JobDriver, job: ScrapingJob, platform: Platform,
                     **values: Any) -> Outcome:
    """Look the job's unknown creators up, batch by batch; `values` go with the write that
    begins the stage."""
    assert platform.build_lookup_input is not None
    store, settings = runner.store, runner.settings
    state: dict[str, Any] = dict(job.stage_state or {})
    if "lookups" not in state:  # the search is done: the lookups begin
        state["lookups"] = {"total": await runner.db(store.count_to_look_up, job.id),
                            "done": 0, "failed": 0}
        state["search"] = {"runId": job.apify_run_id, "datasetId": job.apify_dataset_id}
        await runner.write(job, stage=Stage.PROCESSING, stage_state=dict(state),
                           rate_per_second=None, **values)
        job.stage, job.stage_state = Stage.PROCESSING, dict(state)
    while True:
        await runner.check_in(job, heartbeat=False)
        # A batch in the state is the current run's (written with it): re-attach to it.
        batch: list[str] | None = state.get("batch")
        if batch is None:
            batch = await runner.db(store.creators_to_look_up, job.id,
                                    settings.profile_lookup_batch)
            if not batch:
                return Outcome(Status.COMPLETED)
            try:
                await runner.start_run(job, platform.profile_actor_id(settings),
                                 platform.build_lookup_input(batch, settings),
                                 max_items=len(batch), stage_state={**state, "batch": batch})
            except ProviderRejected as exc:  # a spent budget, the profile actor refused
                return await give_up(runner, job, state, exc.message)
            state["batch"] = batch
        outcome, items = await read_whole(runner, job)
        if outcome.status is Status.TIMEOUT:  # the job's own time is up
            return outcome
        if outcome.status is not Status.COMPLETED:
            log.warning("job %s: a profile lookup run failed, its creators stay unknown: %s",
                        job.id, outcome.error)
        found = profiles(platform, items)
        wanted = {handle.lower() for handle in batch}
        found = {key: creator for key, creator in found.items() if key in wanted}
        state.pop("batch", None)
        await save(runner, job, state, found, sorted(wanted - found.keys()))


async def save(runner: JobDriver, job: ScrapingJob, state: dict[str, Any],
         found: dict[str, Creator], failed: list[str], **values: Any) -> None:
    """One batch's answer, with the counts in `state`, in one write."""
    lookups = state["lookups"]
    state["lookups"] = {**lookups, "done": lookups["done"] + len(found),
                        "failed": lookups["failed"] + len(failed)}
    runner.owned(job, await runner.db(
        runner.store.save_profiles, job.id, runner.worker_id, found, failed,
        {"stage_state": dict(state), **values}))
    job.stage_state = dict(state)


async def give_up(runner: JobDriver, job: ScrapingJob, state: dict[str, Any],
            reason: str) -> Outcome:
    """No lookup run can start: every creator left stays unknown, the job completes with
    what the search found, and its status message says why."""
    log.warning("job %s: profile lookups stopped, the rest stay unknown: %s", job.id, reason)
    message = f"Some creators have no follower count: {reason}"
    while batch := await runner.db(runner.store.creators_to_look_up, job.id,
                                   runner.settings.profile_lookup_batch):
        await save(runner, job, state, {}, [handle.lower() for handle in batch],
                   run_status_message=message)
    job.run_status_message = message
    return Outcome(Status.COMPLETED)


async def read_whole(runner: JobDriver, job: ScrapingJob) -> tuple[Outcome, list[dict[str, Any]]]:
    """The job's current run followed to its end, its items kept in memory (a small run)."""
    assert job.apify_run_id is not None and job.apify_dataset_id is not None
    items: list[dict[str, Any]] = []
    cursor = runner.cursor(job, 0, 0)

    async def collect(page: ItemsPage, now: float) -> None:
        items.extend(page.items)
        if not await runner.db(runner.store.heartbeat, job.id, runner.worker_id):
            raise LostJob()
        cursor.advance(now, len(page.items), len(items))

    outcome = await runner.follow(job, job.apify_run_id, job.apify_dataset_id, cursor, collect)
    return outcome, items


def profiles(platform: Platform, items: list[dict[str, Any]]) -> dict[str, Creator]:
    """The creators profile items describe, by lower-cased handle, each with the engagement
    rate of its latest posts."""
    found: dict[str, Creator] = {}
    for item in items:
        creator = platform.normalize(item, [])
        if creator is None:
            continue
        profile = platform.read_profile([item], creator.handle)
        rate = profile.engagement_rate if profile is not None else None
        found[creator.key[1]] = dataclasses.replace(creator, engagement_rate=rate)
    return found
