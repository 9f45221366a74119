"""TracedStore: the store, with a span around each write of a job's life.

Built by build_runtime only when tracing is on, so the store of a deployment without it pays
nothing. Spans are made inside a trace only (a request, a job run): the reaper's and the hub's
reads are no one's search. Explicit spans rather than SQLAlchemy's instrumentation: the
hottest statements run on the raw driver (prepared.py), and one span per store call says
what a search did, where one per statement would bury it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from scrapetrack.store.models import ScrapingJob
from scrapetrack.store.repository import PageWrite, Store
from scrapetrack.tracing import Attributes, Tracing


class TracedStore(Store):
    def __init__(self, engine: Engine, tracing: Tracing) -> None:
        super().__init__(engine)
        self._tracing = tracing
        self._system = engine.dialect.name

    def _attributes(self, operation: str, job_id: str | None) -> Attributes:
        found: dict[str, str] = {"db.system.name": self._system, "db.operation.name": operation}
        if job_id is not None:
            found["scrapetrack.job.id"] = job_id
        return found

    # The overrides take what the store's methods take, unchanged, and name only the job.
    def create_job(self, *args: Any, **values: Any) -> ScrapingJob:
        with self._tracing.span("store.create_job",
                                self._attributes("create_job", values.get("id"))):
            return super().create_job(*args, **values)

    def claim(self, job_id: str, *args: Any, **kwargs: Any) -> ScrapingJob | None:
        with self._tracing.span("store.claim", self._attributes("claim", job_id)) as span:
            job = super().claim(job_id, *args, **kwargs)
            span.set("scrapetrack.claimed", job is not None)
            return job

    def heartbeat(self, job_id: str, *args: Any, **kwargs: Any) -> bool:
        with self._tracing.span("store.heartbeat", self._attributes("heartbeat", job_id)):
            return super().heartbeat(job_id, *args, **kwargs)

    def update_owned(self, job_id: str, *args: Any, **kwargs: Any) -> int | None:
        with self._tracing.span("store.update_owned", self._attributes("update_owned", job_id)):
            return super().update_owned(job_id, *args, **kwargs)

    def ingest_pages(self, pages: Sequence[PageWrite]) -> list[int | None]:
        # One span per group commit, in the trace of the job whose page opened it.
        job_id = pages[0].job_id if pages else None
        with self._tracing.span("store.ingest", self._attributes("ingest", job_id)) as span:
            span.set("scrapetrack.creators", sum(len(page.creators) for page in pages))
            span.set("scrapetrack.pages", len(pages))
            return super().ingest_pages(pages)

    def save_profiles(self, job_id: str, *args: Any, **kwargs: Any) -> int | None:
        with self._tracing.span("store.save_profiles",
                                self._attributes("save_profiles", job_id)):
            return super().save_profiles(job_id, *args, **kwargs)

    def save_scores(self, job_id: str, *args: Any, **kwargs: Any) -> int | None:
        with self._tracing.span("store.save_scores", self._attributes("save_scores", job_id)):
            return super().save_scores(job_id, *args, **kwargs)

    def finish(self, job_id: str, *args: Any, **kwargs: Any) -> ScrapingJob | None:
        with self._tracing.span("store.finish", self._attributes("finish", job_id)) as span:
            if args:
                span.set("scrapetrack.job.status", str(args[0]))
            return super().finish(job_id, *args, **kwargs)
