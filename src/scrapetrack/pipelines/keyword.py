"""Keyword search: one run of the platform's search actor, its items ingested page by page
with `progress = floor(processed / target x 100)`, until the run ends or the job holds its
target (then the run is aborted: nothing more is paid for). Where the items name creators
without their numbers (Instagram), the profile lookups follow (see lookups.py)."""

from __future__ import annotations

from scrapetrack.creators import Creator
from scrapetrack.jobs import RateSample, Stage, Status, ingest_rate, keyword_progress
from scrapetrack.pipelines.base import JobDriver, Outcome
from scrapetrack.pipelines.lookups import look_up_profiles
from scrapetrack.providers.base import ItemsPage
from scrapetrack.providers.platforms import Platform, get_platform
from scrapetrack.store.models import ScrapingJob


async def run_keyword_job(runner: JobDriver, job: ScrapingJob) -> Outcome:
    platform = get_platform(job.platform)
    if job.stage == Stage.PROCESSING:  # resumed after the search, among its lookups
        return await look_up_profiles(runner, job, platform)
    outcome = await search(runner, job, platform)
    if outcome.status is Status.COMPLETED and platform.build_lookup_input is not None:
        return await look_up_profiles(runner, job, platform)
    return outcome


async def search(runner: JobDriver, job: ScrapingJob, platform: Platform) -> Outcome:
    target = job.target_results
    if job.apify_run_id is None or job.apify_dataset_id is None:
        run_input = platform.build_keyword_input(job.keywords or [], target, runner.settings)
        await runner.start_run(job, platform.actor_id(runner.settings), run_input,
                         max_items=target - job.processed_results, stage=Stage.SEARCHING)
    cursor = runner.cursor(job, job.items_offset, job.processed_results)

    async def ingest(page: ItemsPage, now: float) -> None:
        # Never more than asked: the page is read up to the item that completes the target
        # (an actor may deliver more than its maxItems), and reading stops there.
        creators: list[Creator] = []
        used = 0
        for item in page.items:
            if cursor.processed + len(creators) >= target:
                break
            used += 1
            if (creator := platform.normalize(item, job.keywords or [])) is not None:
                creators.append(creator)
        processed = cursor.processed + len(creators)
        samples = [*cursor.samples, RateSample(now, processed)]
        await runner.ingest(job, from_offset=cursor.offset, to_offset=cursor.offset + used,
                      creators=creators, skipped=used - len(creators),
                      progress=keyword_progress(processed, target),
                      rate_per_second=ingest_rate(samples))
        cursor.advance(now, used, processed)
        cursor.done = processed >= target

    assert job.apify_run_id is not None and job.apify_dataset_id is not None
    return await runner.follow(job, job.apify_run_id, job.apify_dataset_id, cursor, ingest)
