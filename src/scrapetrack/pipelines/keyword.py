"""Keyword search: one run of the platform's search actor, its items ingested page by page
with `progress = floor(processed / target x 100)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapetrack.jobs import RateSample, Stage, ingest_rate, keyword_progress
from scrapetrack.pipelines.base import Outcome
from scrapetrack.providers.base import ItemsPage
from scrapetrack.providers.platforms import get_platform
from scrapetrack.store.models import ScrapingJob

if TYPE_CHECKING:
    from scrapetrack.worker import JobRunner


def run_keyword_job(runner: JobRunner, job: ScrapingJob) -> Outcome:
    platform = get_platform(job.platform)
    if job.apify_run_id is None or job.apify_dataset_id is None:
        run_input = platform.build_keyword_input(job.keywords or [], job.target_results,
                                                 runner.settings)
        runner.start_run(job, platform.actor_id(runner.settings), run_input,
                         stage=Stage.SEARCHING)
    cursor = runner.cursor(job, job.items_offset, job.processed_results)

    def ingest(page: ItemsPage, now: float) -> None:
        creators = [c for item in page.items
                    if (c := platform.normalize(item, job.keywords or [])) is not None]
        processed = cursor.processed + len(creators)
        samples = [*cursor.samples, RateSample(now, processed)]
        runner.owned(job, runner.store.ingest(
            job.id, runner.worker_id, from_offset=cursor.offset,
            to_offset=cursor.offset + len(page.items), creators=creators,
            skipped=len(page.items) - len(creators),
            progress=keyword_progress(processed, job.target_results),
            rate_per_second=ingest_rate(samples)))
        cursor.advance(now, len(page.items), processed)

    assert job.apify_run_id is not None and job.apify_dataset_id is not None
    return runner.follow(job, job.apify_run_id, job.apify_dataset_id, cursor, ingest)
