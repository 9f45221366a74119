"""`scrapetrack backup`: a consistent copy of the SQLite database while searches write to it;
never over a file unless told; pg_dump's advice for PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scrapetrack.store.db import make_engine
from scrapetrack.store.migrate import upgrade
from tests.conftest import wait_until
from tests.integration.conftest import App, wait_for_job

SCRAPETRACK = str(Path(sys.executable).with_name("scrapetrack"))


def backup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRAPETRACK, "backup", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_backup_taken_while_searches_write_is_whole(
        start_app: Callable[..., App], tmp_path: Path) -> None:
    app = start_app()
    settings = app.runtime.settings
    env = {**os.environ, "DATABASE_URL": settings.database_url,
           "SCRAPETRACK_DATA_DIR": str(settings.data_dir)}
    client = app.user("owner@example.com")
    campaign = client.post("/api/campaigns", json={"name": "Before the backup"}).json()
    ended = client.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 40}).json()
    done, _ = wait_for_job(client, ended)
    assert done["status"] == "completed", done
    # Searches long enough to write through every backup below.
    running = [client.post(f"/api/scraping/{platform}", json={
        "campaignId": campaign["id"], "keywords": ["running"], "targetResults": 10_000}).json()
        for platform in ("tiktok", "youtube")]
    def writing() -> bool:
        return all(job(client, j["id"])["processedResults"] > 0 for j in running)

    wait_until(writing, 60, "the long searches to write")

    for n in range(3):
        before = {j["id"]: job(client, j["id"])["processedResults"] for j in running}
        target = tmp_path / "backups" / f"copy-{n}.db"  # its folder made on the way
        made = backup(env, str(target))
        assert made.returncode == 0, made.stderr
        assert str(target) in made.stdout and "integrity checked" in made.stdout, made.stdout
        after = {j["id"]: job(client, j["id"])["processedResults"] for j in running}
        assert all(job(client, j)["status"] == "processing" for j in after), \
            "the searches ended before the backup: it copied a database at rest"
        assert not target.with_name(target.name + "-wal").exists()
        with sqlite3.connect(target) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert copy.execute("SELECT name FROM campaigns WHERE id = ?",
                                (campaign["id"],)).fetchall() == [("Before the backup",)]
            jobs = {row[0]: row[1:] for row in copy.execute(
                "SELECT id, status, processed_results, creators_count FROM scraping_jobs")}
            assert jobs[ended["id"]] == ("completed", done["processedResults"],
                                         done["creatorsCount"])
            for job_id, processed in before.items():  # as of one moment during the backup
                assert processed <= jobs[job_id][1] <= after[job_id]
            # Each page's creators and its counts are one transaction: a copy of half of
            # one would show a job whose count is not its rows.
            for job_id, (_status, _processed, count) in jobs.items():
                rows = copy.execute("SELECT count(*) FROM creators WHERE job_id = ?",
                                    (job_id,)).fetchone()[0]
                assert rows == count, job_id
    for started in running:
        client.post(f"/api/jobs/{started['id']}/cancel")


def test_a_backup_replaces_a_file_only_when_told(tmp_path: Path) -> None:
    database = tmp_path / "var" / "scrapetrack.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}",
           "SCRAPETRACK_DATA_DIR": str(tmp_path / "var")}
    missing = backup(env, str(tmp_path / "copy.db"))
    assert missing.returncode == 1 and "scrapetrack migrate" in missing.stderr
    engine = make_engine(env["DATABASE_URL"])
    upgrade(engine)
    engine.dispose()
    target = tmp_path / "copy.db"
    target.write_text("an earlier backup")
    refused = backup(env, str(target))
    assert refused.returncode == 1 and "--force" in refused.stderr, refused.stderr
    assert target.read_text() == "an earlier backup"
    assert backup(env, str(target), "--force").returncode == 0
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)  # it holds tokens' hashes
    assert list(tmp_path.glob(".*partial")) == []
    same = backup(env, str(database), "--force")
    assert same.returncode == 1 and "cannot replace" in same.stderr


def test_postgres_gets_the_pg_dump_command_without_its_password(tmp_path: Path) -> None:
    env = {**os.environ, "SCRAPETRACK_DATA_DIR": str(tmp_path),
           "DATABASE_URL": "postgresql+psycopg://scrapetrack:s3cret@db.internal:5432/prod"}
    advised = backup(env, "prod.dump")
    assert advised.returncode == 1
    said = " ".join(advised.stderr.split())  # rich wraps long lines
    assert "pg_dump --format=custom --file=prod.dump" in said, advised.stderr
    assert "postgresql://scrapetrack@db.internal:5432/prod" in said
    assert "s3cret" not in advised.stderr + advised.stdout
    assert not (Path.cwd() / "prod.dump").exists()
