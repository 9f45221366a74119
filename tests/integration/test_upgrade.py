"""Upgrades lose nothing: a database written by an earlier release, migrated by this one,
answers as that release answered, and takes new work.

Each release's fixture (tests/fixtures/releases/, made by scripts/make-release-fixture with
that release's own code) holds users with tokens, a shared workspace with members,
campaigns, ended searches with their creators and a creator list the team worked on; its
.json is what that release's API said about them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scrapetrack.store.db import make_engine
from scrapetrack.store.models import Base
from tests.integration.conftest import App, wait_for_job

RELEASES = Path(__file__).parent.parent / "fixtures" / "releases"
FIXTURES = sorted(RELEASES.glob("scrapetrack-*.db"))
SCRAPETRACK = str(Path(sys.executable).with_name("scrapetrack"))
# What a search was, and what it found: the same after any upgrade. (Rates, ETAs and the
# like are of the moment; fields a later release adds are welcome.)
JOB_FIELDS = ("id", "status", "progress", "processedResults", "targetResults", "error",
              "platform", "kind", "campaignId", "keywords", "targetUsername", "creatorsCount",
              "skippedItems", "createdAt", "startedAt", "finishedAt", "apifyRunId",
              "costUsd")
ROW_FIELDS = ("id", "platform", "handle", "displayName", "followers", "status", "note",
              "tags", "foundBy", "firstSeenAt")


def picked(value: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: value.get(name) for name in fields}


def get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response.json()


def test_each_release_keeps_its_fixture() -> None:
    names = {f.name for f in FIXTURES}
    assert "scrapetrack-0.1.0.db" in names
    for fixture in FIXTURES:
        assert fixture.with_suffix(".json").is_file(), fixture
        assert fixture.stat().st_size < 1_000_000, f"{fixture}: keep it small"


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_a_release_database_upgrades_with_everything_in_it(
        fixture: Path, tmp_path: Path, start_app: Callable[..., App]) -> None:
    old = json.loads(fixture.with_suffix(".json").read_text())
    seen = old["seen"]
    database = tmp_path / "old" / "scrapetrack.db"
    database.parent.mkdir()
    shutil.copyfile(fixture, database)  # the fixture itself is never written
    url = f"sqlite:///{database}"
    env = {**os.environ, "DATABASE_URL": url, "SCRAPETRACK_DATA_DIR": str(tmp_path / "var")}
    migrated = subprocess.run([SCRAPETRACK, "migrate"], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    assert migrated.returncode == 0, migrated.stderr
    engine = make_engine(url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()

    app = start_app(database_url=url)
    users = {who: app.client(token) for who, token in old["tokens"].items()}  # tokens work
    alice = users["alice"]
    for who, client in users.items():
        assert get(client, "/api/campaigns") == seen["campaigns"][who], who
        workspaces = [picked(w, ("id", "name", "personal", "role", "members"))
                      for w in get(client, "/api/workspaces")]
        assert workspaces == [picked(w, ("id", "name", "personal", "role", "members"))
                              for w in seen["workspaces"][who]], who
    assert get(alice, f"/api/workspaces/{old['workspace']}/members") == seen["members"]
    for campaign_id, was in seen["campaign"].items():
        now = get(alice, f"/api/campaigns/{campaign_id}")
        assert picked(now, ("id", "name", "description", "createdAt")) == \
            picked(was, ("id", "name", "description", "createdAt"))
        assert [picked(j, JOB_FIELDS) for j in now["scrapingJobs"]] == \
            [picked(j, JOB_FIELDS) for j in was["scrapingJobs"]]
    for job_id, was in seen["jobs"].items():
        now = get(alice, f"/api/jobs/{job_id}")
        assert set(was) <= set(now), f"fields dropped: {set(was) - set(now)}"
        assert picked(now, JOB_FIELDS) == picked(was, JOB_FIELDS)
        assert get(alice, f"/api/jobs/{job_id}/results") == seen["results"][job_id]
    for campaign_id, rows in seen["creators"].items():
        now = get(alice, f"/api/campaigns/{campaign_id}/creators", limit=200)["items"]
        assert [picked(r, ROW_FIELDS) for r in now] == [picked(r, ROW_FIELDS) for r in rows]
    worked = [r for r in seen["creators"][old["campaigns"]["spring"]]
              if r["status"] != "new" or r["tags"] or r["note"]]
    assert {r["status"] for r in worked} >= {"shortlisted", "contacted", "excluded"}

    # New work on old data: a search in an old campaign runs to its end and joins the list
    # without touching the team's work; a schedule (newer than 0.1.0) goes on the campaign.
    spring = old["campaigns"]["spring"]
    job = alice.post("/api/scraping/tiktok", json={
        "campaignId": spring, "keywords": ["stretching"], "targetResults": 10})
    assert job.status_code == 202, job.text
    done, _ = wait_for_job(alice, job.json())
    assert done["status"] == "completed", done
    listed = get(alice, f"/api/campaigns/{spring}/creators", limit=200)["items"]
    by_id = {r["id"]: r for r in listed}
    assert len(listed) > len(seen["creators"][spring])
    for row in worked:
        assert picked(by_id[row["id"]], ("status", "note", "tags")) == \
            picked(row, ("status", "note", "tags"))
    schedule = alice.post("/api/schedules", json={
        "campaignId": spring, "platform": "youtube", "keywords": ["yoga"],
        "targetResults": 10, "cron": "0 9 * * 1", "paused": True})
    assert schedule.status_code == 201, schedule.text
