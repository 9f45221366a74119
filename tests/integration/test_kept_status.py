"""A job's status JSON, rendered by the web layer from the row (the store keeps data, not
pages), on SQLite and PostgreSQL: each version is rendered once per process and every stream
and poll of it sends that text; a write, or a change made straight in the database, is a new
version and is rendered anew."""

from __future__ import annotations

import json

from sqlalchemy import inspect, update

from scrapetrack.creators import Creator
from scrapetrack.jobs import Status
from scrapetrack.serializers import JobView, job_status, status_payload, status_text, view_of
from scrapetrack.store.migrate import downgrade, upgrade
from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import JOBS, Store
from tests.integration.conftest import new_job


def views(store: Store, job_ids: list[str], campaign_ids: tuple[str, ...] = ()) -> list[JobView]:
    """The jobs as the hub makes them for its streams."""
    return [view_of(row) for row in store.job_states(job_ids, campaign_ids)]


def streamed(store: Store, job_id: str) -> dict[str, object]:
    """The job as a stream sends it, checked against its row."""
    (view,) = views(store, [job_id])
    job = store.get_job(job_id)
    assert job is not None and view.version == job.version
    parsed: dict[str, object] = json.loads(view.payload)
    assert parsed == job_status(job)
    return parsed


def test_every_write_is_streamed_as_its_row_says(store: Store) -> None:
    job = new_job(store)
    assert streamed(store, job.id)["status"] == "pending"
    assert store.claim(job.id, "w1", utcnow(), utcnow()) is not None
    assert streamed(store, job.id)["status"] == "processing"
    assert store.update_owned(job.id, "w1", progress=10, rate_per_second=4.0) is not None
    assert streamed(store, job.id)["ratePerSecond"] == 4.0
    # The creators' recount runs after the job's own update, in the same transaction.
    page = [Creator(platform="tiktok", handle="ana", followers=10, engagement_rate=0.1),
            Creator(platform="tiktok", handle="bo", followers=5, engagement_rate=0.3)]
    assert store.ingest(job.id, "w1", from_offset=0, to_offset=3, creators=page, skipped=1,
                        progress=20, rate_per_second=None) is not None
    status = streamed(store, job.id)
    assert (status["creatorsCount"], status["processedResults"], status["skippedItems"]) == \
        (2, 2, 1)
    scores = [(c.id, 0.5, "close") for c in store.creators(job.id)]
    assert store.save_scores(job.id, "w1", scores, progress=60) is not None
    assert streamed(store, job.id)["progress"] == 60
    assert store.update_owned(job.id, "w2", progress=99) is None  # not w2's: no change
    assert streamed(store, job.id)["progress"] == 60
    assert store.finish(job.id, Status.COMPLETED, worker_id="w1") is not None
    assert streamed(store, job.id)["status"] == "completed"


def test_a_version_is_rendered_once_and_a_new_one_anew(store: Store) -> None:
    first = new_job(store)
    other = new_job(store, first.campaign_id, first.user_id)
    found = {v.id: v for v in views(store, [first.id], (first.campaign_id,))}
    assert set(found) == {first.id, other.id}
    row = store.get_job(first.id)
    assert row is not None
    assert found[first.id] == JobView(row.id, row.campaign_id, row.version, row.status,
                                      status_text(row))
    assert status_payload(row) is status_payload(row)  # the same text, rendered once
    with store.engine.begin() as conn:  # changed outside the store: a new version
        conn.execute(update(JOBS).where(JOBS.c.id == first.id).values(
            progress=7, version=JOBS.c.version + 1))
    assert streamed(store, first.id)["progress"] == 7
    assert views(store, []) == []


def test_revision_0006_drops_the_kept_status_and_back(store: Store) -> None:
    job = new_job(store)
    columns = {c["name"] for c in inspect(store.engine).get_columns("scraping_jobs")}
    assert not {"status_json", "status_version"} & columns
    downgrade(store.engine, "0005")
    columns = {c["name"] for c in inspect(store.engine).get_columns("scraping_jobs")}
    assert {"status_json", "status_version"} <= columns
    upgrade(store.engine)
    assert streamed(store, job.id)["status"] == "pending"
