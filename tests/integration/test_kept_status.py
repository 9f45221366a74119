"""The status JSON a job's writer keeps beside each version (`Store._save_status_json`), on
SQLite and PostgreSQL: every write keeps the one of its version, streams send it as kept, and a row
without one for its version (from before revision 0003, or changed by an older release) is
rendered from the row instead."""

from __future__ import annotations

import json

from alembic import command
from sqlalchemy import update

from scrapetrack.creators import Creator
from scrapetrack.jobs import Status
from scrapetrack.serializers import JobView, job_status, status_payload, status_text
from scrapetrack.store.migrate import alembic_config, upgrade
from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import JOBS, Store
from tests.integration.conftest import new_job


def kept(store: Store, job_id: str) -> dict[str, object]:
    """The job's kept status, checked against the row it was written with."""
    job = store.get_job(job_id)
    assert job is not None
    assert job.status_version == job.version
    assert job.status_json == status_text(job)
    parsed: dict[str, object] = json.loads(job.status_json)
    assert parsed == job_status(job)
    return parsed


def test_every_write_keeps_the_status_of_its_version(store: Store) -> None:
    job = new_job(store)
    assert kept(store, job.id)["status"] == "pending"
    assert store.claim(job.id, "w1", utcnow(), utcnow()) is not None
    assert kept(store, job.id)["status"] == "processing"
    assert store.update_owned(job.id, "w1", progress=10, rate_per_second=4.0) is not None
    assert kept(store, job.id)["ratePerSecond"] == 4.0
    # The creators' recount runs after the job's own update, in the same transaction.
    page = [Creator(platform="tiktok", handle="ana", followers=10, engagement_rate=0.1),
            Creator(platform="tiktok", handle="bo", followers=5, engagement_rate=0.3)]
    assert store.ingest(job.id, "w1", from_offset=0, to_offset=3, creators=page, skipped=1,
                        progress=20, rate_per_second=None) is not None
    status = kept(store, job.id)
    assert (status["creatorsCount"], status["processedResults"], status["skippedItems"]) == \
        (2, 2, 1)
    scores = [(c.id, 0.5, "close") for c in store.creators(job.id)]
    assert store.save_scores(job.id, "w1", scores, progress=60) is not None
    assert kept(store, job.id)["progress"] == 60
    # A write refused (the job is not this worker's) leaves the last one as it was.
    assert store.update_owned(job.id, "w2", progress=99) is None
    assert kept(store, job.id)["progress"] == 60
    assert store.finish(job.id, Status.COMPLETED, worker_id="w1") is not None
    assert kept(store, job.id)["status"] == "completed"


def test_streams_send_the_kept_status_and_render_a_row_without_one(store: Store) -> None:
    first = new_job(store)
    before, older = (new_job(store, first.campaign_id, first.user_id) for _ in range(2))
    with store.engine.begin() as conn:
        # Kept text is sent as it is: mark it to see that it is not rendered again.
        conn.execute(update(JOBS).where(JOBS.c.id == first.id).values(
            status_json='{"kept":true}'))
        # A row from before revision 0003 has none; an older release's write leaves the
        # previous version's.
        conn.execute(update(JOBS).where(JOBS.c.id == before.id).values(
            status_json=None, status_version=None))
        conn.execute(update(JOBS).where(JOBS.c.id == older.id).values(
            progress=7, version=JOBS.c.version + 1))
    views = {v.id: v for v in store.job_views([first.id], [first.campaign_id])}
    assert set(views) == {first.id, before.id, older.id}
    assert views[first.id].payload == '{"kept":true}'
    for job_id in (before.id, older.id):
        row = store.get_job(job_id)
        assert row is not None
        assert views[job_id] == JobView(row.id, row.campaign_id, row.version, row.status,
                                        status_text(row))
        assert status_payload(row) == status_text(row)
    assert json.loads(views[older.id].payload)["progress"] == 7
    assert store.job_views([], []) == []


def test_revision_0003_upgrades_jobs_written_before_it(store: Store) -> None:
    job = new_job(store)
    assert store.claim(job.id, "w1", utcnow(), utcnow()) is not None
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    upgrade(store.engine)
    row = store.get_job(job.id)
    assert row is not None and row.status_json is None and row.status_version is None
    (view,) = store.job_views([job.id])
    assert json.loads(view.payload) == job_status(row)
    assert store.update_owned(job.id, "w1", progress=5) is not None
    assert kept(store, job.id)["progress"] == 5
