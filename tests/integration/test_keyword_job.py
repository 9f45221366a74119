"""Keyword searches end to end: API → queue → worker → apify-client → sandbox → store."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.platforms import get_platform
from scrapetrack.runtime import Runtime
from tests.conftest import HeldSandbox
from tests.integration.conftest import App, wait_for_items, wait_for_job

pytestmark = pytest.mark.all_stacks


def start(client: httpx.Client, keywords: list[str], target: int,
          platform: str = "tiktok", **extra: Any) -> dict[str, Any]:
    campaign = client.post("/api/campaigns", json={"name": "Launch"}).json()
    response = client.post(f"/api/scraping/{platform}", json={
        "campaignId": campaign["id"], "keywords": keywords, "targetResults": target, **extra})
    assert response.status_code == 202, response.text
    job = dict(response.json())
    assert job["status"] == "pending"
    assert job["progress"] == 0
    return job


def expected_creators(runtime: Runtime, job_id: str,
                      exclude: str | None = None) -> tuple[int, int, set[str]]:
    """Read the run's whole dataset straight from the sandbox: items holding a creator,
    items skipped, lower-cased handles; without the creator `exclude` names, if any."""
    job = runtime.store.get_job(job_id)
    assert job is not None
    # The search run's dataset: named in the state once profile lookups followed it.
    dataset = ((job.stage_state or {}).get("search") or {}).get("datasetId") \
        or job.apify_dataset_id
    assert dataset is not None
    provider = ApifyProvider("t", runtime.settings.resolved_apify_api_url())
    try:
        page = provider.items_page(dataset, 0, 100_000)
    finally:
        provider.close()
    platform = get_platform(job.platform)
    creators = [c for item in page.items
                if (c := platform.normalize(item, job.keywords or [])) is not None
                and c.key[1] != (exclude or "").lower()]
    return len(creators), len(page.items) - len(creators), {c.key[1] for c in creators}


def test_a_keyword_search_shows_real_progress_and_saves_deduplicated_creators(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    keywords = ["fitness coach", "hiit"]
    job = start(alice, keywords, 200)
    run = held_sandbox.run(1)
    # The run held at a quarter, half and three quarters of its items: each time, the job
    # shows exactly what it has ingested, and nothing more.
    held = []
    for items in (50, 100, 150):
        held_sandbox.write(run, items)
        held.append(wait_for_items(alice, job, items))
    assert [s["status"] for s in held] == ["processing"] * 3
    assert 0 < held[0]["progress"] < held[1]["progress"] < held[2]["progress"] < 100, held
    held_sandbox.finish(run)
    final, seen = wait_for_job(alice, job)

    assert final["status"] == "completed", final
    assert final["progress"] == 100
    assert final["error"] is None
    seen = held + seen
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), "progress went backwards"
    # Each status's progress is the floor of what had been ingested by then.
    for status in seen:
        if status["status"] == "processing":
            assert status["progress"] == min(
                99, status["processedResults"] * 100 // status["targetResults"])
    assert all(s["progress"] < 100 for s in seen if s["status"] != "completed")

    items, skipped, handles = expected_creators(app.runtime, job["id"])
    assert final["processedResults"] == items
    assert final["skippedItems"] == skipped
    results = alice.get(f"/api/jobs/{job['id']}/results").json()
    assert {r["handle"].lower() for r in results} == handles
    assert len(results) == final["creatorsCount"] < items  # several videos per creator
    first = results[0]
    assert set(first) >= {"platform", "handle", "displayName", "followers", "engagementRate",
                          "bio", "profileUrl", "avatarUrl", "matchedKeyword"}
    assert {r["matchedKeyword"] for r in results} <= set(keywords) | {None}
    followers = [r["followers"] for r in results if r["followers"] is not None]
    assert followers == sorted(followers, reverse=True)

    exported = alice.get(f"/api/jobs/{job['id']}/results", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == len(results)
    assert {r["handle"].lower() for r in rows} == handles

    listed = alice.get(f"/api/campaigns/{job['campaignId']}").json()["scrapingJobs"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert listed[0]["status"] == "completed"


def test_the_run_id_is_saved_and_the_run_is_read_to_its_last_short_page(app: App) -> None:
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 1234)  # more than two full pages of 500
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed"
    row = app.runtime.store.get_job(job["id"])
    assert row is not None
    assert row.apify_run_id and row.apify_dataset_id
    assert row.items_offset == final["processedResults"] + final["skippedItems"] == 1234


def test_a_failed_run_ends_the_job_in_error_with_the_runs_message(app: App) -> None:
    alice = app.user("alice@example.com")
    job = start(alice, ["sandbox:failed"], 100)
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "error"
    assert "FAILED" in final["error"]
    assert final["progress"] < 100


def test_an_aborted_run_ends_the_job_in_error(app: App) -> None:
    alice = app.user("alice@example.com")
    final, _ = wait_for_job(alice, start(alice, ["sandbox:aborted"], 100))
    assert final["status"] == "error"
    assert "ABORTED" in final["error"]


def test_a_timed_out_run_ends_the_job_as_timeout(app: App) -> None:
    alice = app.user("alice@example.com")
    final, _ = wait_for_job(alice, start(alice, ["sandbox:timed-out"], 100))
    assert final["status"] == "timeout"
    assert "timed out" in final["error"]


def test_an_unreachable_platform_ends_the_job_in_error(start_app: Any) -> None:
    # Nothing listens on port 9.
    app = start_app(apify_api_url="http://127.0.0.1:9", apify_max_retries=1)
    alice = app.user("alice@example.com")
    final, _ = wait_for_job(alice, start(alice, ["yoga"], 10))
    assert final["status"] == "error"
    assert final["error"]
