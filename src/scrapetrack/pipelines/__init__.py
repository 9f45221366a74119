"""One module per kind of job, each driven by the runner through the primitives of
`base.JobDriver`: start a run and save its id, follow a run page by page, write what the job
owns. The pipelines know that protocol only, never the worker that implements it.

A pipeline keeps nothing that matters in memory: every step it completes is on the job row,
so any worker can resume it after a crash, a graceful stop or a takeover.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from scrapetrack.pipelines.base import JobDriver, Outcome
from scrapetrack.pipelines.keyword import run_keyword_job
from scrapetrack.pipelines.similar import run_similar_job
from scrapetrack.store.models import ScrapingJob

# A job's kind → the pipeline that drives it.
PIPELINES: dict[str, Callable[[JobDriver, ScrapingJob], Awaitable[Outcome]]] = {
    "keyword": run_keyword_job, "similar": run_similar_job}
