"""Similar-creators searches end to end, on every platform: API → queue → worker → the
profile actor and the search actor through apify-client → sandbox → scored creators."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scrapetrack.jobs import STAGES, Stage, stage_progress
from scrapetrack.pipelines.similar import SEARCH_ITEMS_PER_RESULT
from scrapetrack.providers.platforms import PLATFORMS
from scrapetrack.runtime import Runtime
from tests.conftest import HeldSandbox
from tests.integration.conftest import App, wait_for_items, wait_for_job
from tests.integration.test_cli import env_for, run
from tests.integration.test_keyword_job import expected_creators
from tests.integration.test_keyword_job import start as start_keyword

pytestmark = pytest.mark.all_stacks
SOURCE = "fitwithmia"


def start_similar(client: httpx.Client, handle: str, target: int | None = 40,
                  platform: str = "tiktok") -> dict[str, Any]:
    campaign = client.post("/api/campaigns", json={"name": "Lookalikes"}).json()
    body: dict[str, Any] = {"campaignId": campaign["id"], "targetUsername": handle}
    if target is not None:
        body["targetResults"] = target
    response = client.post(f"/api/scraping/{platform}", json=body)
    assert response.status_code == 202, response.text
    job = dict(response.json())
    assert (job["status"], job["progress"], job["kind"]) == ("pending", 0, "similar")
    assert job["targetUsername"] == handle.lstrip("@")
    return job


def search_items(runtime: Runtime, job_id: str) -> tuple[int, int, set[str]]:
    """The search run's dataset read straight from the sandbox, without the source creator:
    (items holding a candidate, items skipped, candidate handles)."""
    job = runtime.store.get_job(job_id)
    assert job is not None
    return expected_creators(runtime, job_id, exclude=job.target_username)


def stage_range(stage: str) -> tuple[int, int]:
    index = STAGES.index(Stage(stage))
    low = stage_progress(Stage(stage))
    high = 100 if index == len(STAGES) - 1 else stage_progress(STAGES[index + 1]) - 1
    return low, high


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_a_similar_search_runs_every_stage_and_ranks_by_similarity(
        held_sandbox: HeldSandbox, start_app: Callable[..., App], platform: str) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start_similar(alice, f"@{SOURCE}", 40, platform)
    held_sandbox.finish(held_sandbox.run(1))  # the profile run
    # The search run held half-way: within searching, the bar stands where the items read
    # put it, not at the stage's start.
    search = held_sandbox.run(2)
    half = search.plan.stop_after // 2
    held_sandbox.write(search, half)
    mid = wait_for_items(alice, job, half)
    assert (mid["status"], mid["stage"]) == ("processing", "searching"), mid
    assert mid["progress"] == stage_progress(Stage.SEARCHING, half,
                                             40 * SEARCH_ITEMS_PER_RESULT)
    assert mid["progress"] > stage_progress(Stage.SEARCHING), mid
    held_sandbox.finish(search)
    # Instagram's candidates are looked up before they are scored: runs 3 and on.
    final, seen = wait_for_job(alice, job, meanwhile=lambda: held_sandbox.finish_begun(3))
    seen = [mid, *seen]

    assert final["status"] == "completed", final
    assert final["progress"] == 100 and final["stage"] == "completed"
    assert final["error"] is None
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), "progress went backwards"
    stages = list(dict.fromkeys(s["stage"] for s in seen))
    assert stages == sorted(stages, key=lambda s: STAGES.index(Stage(s))), stages
    assert {"searching", "completed"} <= set(stages), stages
    for status in seen:  # every progress lies in its stage's band
        low, high = stage_range(status["stage"])
        assert low <= status["progress"] <= high, status

    # What the analysis derived from the profile: niche hashtags as the search terms.
    similar = final["similarTo"]
    assert similar["handle"].lower() == SOURCE and similar["followers"] > 0
    assert "fitness" in similar["hashtags"] and "fyp" not in similar["hashtags"]
    assert final["keywords"] and set(final["keywords"]) <= set(similar["hashtags"]) | set(
        similar["keywords"])

    row = app.runtime.store.get_job(job["id"])
    assert row is not None and row.stage_state is not None
    assert row.stage_state["profileRunId"] != row.apify_run_id  # a profile run, a search run
    lookups = final["profileLookups"]
    if platform == "instagram":
        assert lookups == {"total": final["creatorsCount"], "done": final["creatorsCount"],
                           "failed": 0}
        assert row.stage_state["search"]["runId"] == held_sandbox.state.runs[1].id
        batches = -(-lookups["total"] // app.runtime.settings.profile_lookup_batch)
        assert held_sandbox.state.runs_started == 2 + batches
    else:
        assert lookups is None and held_sandbox.state.runs_started == 2

    items, skipped, handles = search_items(app.runtime, job["id"])
    # Fewer distinct candidates than asked for: the run was read to its end, and
    # processedResults counts the distinct candidates found.
    assert final["processedResults"] == len(handles) < 40
    assert final["skippedItems"] == skipped
    if lookups is None:  # else itemsRead counts the last lookup run's (the current run)
        assert final["itemsRead"] == items + skipped
    results = alice.get(f"/api/jobs/{job['id']}/results").json()
    assert {r["handle"].lower() for r in results} == handles
    assert SOURCE not in handles
    assert sum(r["videos"] for r in results) == items  # every item counted once
    assert row.stage_state["scored"] == len(results) == final["creatorsCount"]
    scores = [r["similarityScore"] for r in results]
    assert all(0 <= s <= 1 for s in scores)
    assert scores == sorted(scores, reverse=True), "results are ranked by similarity"
    assert all(r["similarityReason"] for r in results)
    assert any(r["similarityReason"].startswith("shares #") for r in results)
    assert scores[0] > scores[-1]
    # Followers and an engagement rate on (nearly) every candidate, Instagram's looked up.
    with_numbers = [r for r in results if r["followers"] and r["engagementRate"] is not None]
    assert len(with_numbers) >= 0.9 * len(results), results
    assert set(results[0]) >= {"platform", "handle", "displayName", "followers",
                               "engagementRate", "bio", "profileUrl", "avatarUrl",
                               "matchedKeyword", "similarityScore", "similarityReason"}

    exported = alice.get(f"/api/jobs/{job['id']}/results", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["handle"] for r in rows] == [r["handle"] for r in results]
    assert float(rows[0]["similarityScore"]) == results[0]["similarityScore"]


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_a_keyword_search_on_each_platform(app: App, platform: str) -> None:
    alice = app.user("alice@example.com")
    job = start_keyword(alice, ["fitness", "hiit"], 80, platform)
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed", final
    assert final["similarTo"] is None
    items, skipped, handles = expected_creators(app.runtime, job["id"])
    assert (final["processedResults"], final["skippedItems"]) == (items, skipped)
    results = alice.get(f"/api/jobs/{job['id']}/results").json()
    assert {r["handle"].lower() for r in results} == handles
    assert all(r["similarityScore"] is None for r in results)
    assert all(r["platform"] == platform for r in results)
    # Instagram's hashtag posts carry no follower counts: its creators were looked up.
    # Every creator says which keyword found it, from what its items say.
    assert all(r["matchedKeyword"] in ("fitness", "hiit") for r in results), results
    with_numbers = [r for r in results if r["followers"] and r["engagementRate"] is not None]
    assert len(with_numbers) >= 0.9 * len(results), results
    assert final["profileLookups"] == ({"total": len(results), "done": len(results),
                                        "failed": 0} if platform == "instagram" else None)


def test_a_creator_that_does_not_exist_ends_in_error(app: App) -> None:
    alice = app.user("alice@example.com")
    final, _ = wait_for_job(alice, start_similar(alice, "sandbox.notfound", 20, "instagram"))
    assert final["status"] == "error"
    assert final["error"] == ("@sandbox.notfound was not found on Instagram: its profile run "
                              "returned no creator")
    assert final["progress"] < 40


def test_a_failed_profile_run_ends_the_job_with_its_message(app: App) -> None:
    alice = app.user("alice@example.com")
    final, _ = wait_for_job(alice, start_similar(alice, "sandbox.failed", 20, "youtube"))
    assert final["status"] == "error"
    assert final["error"].startswith("Could not fetch @sandbox.failed's profile: ")
    assert "FAILED" in final["error"]


def test_similar_search_input_is_checked(app: App) -> None:
    alice = app.user("alice@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "c"}).json()
    for body, status in (
        ({"targetUsername": "two words"}, 400),
        ({"targetUsername": ""}, 400),
        ({"targetUsername": "a" * 101}, 400),
        ({"targetUsername": "mia", "keywords": ["yoga"], "targetResults": 10}, 400),
        ({"targetUsername": "mia", "targetResults": 0}, 400),
        ({"targetUsername": 42}, 422),
    ):
        response = alice.post("/api/scraping/tiktok", json={"campaignId": campaign["id"],
                                                             **body})
        assert response.status_code == status, (body, response.text)
        assert isinstance(response.json()["error"], str)
    assert alice.post("/api/scraping/myspace", json={
        "campaignId": campaign["id"], "targetUsername": "mia"}).status_code == 404
    assert alice.get(f"/api/campaigns/{campaign['id']}").json()["scrapingJobs"] == []
    job = start_similar(alice, "mia.fit", None)
    assert job["targetResults"] == 50  # the default


def test_the_cli_searches_for_similar_creators(app: App) -> None:
    token = app.runtime.accounts.create_user("dave@example.com").token
    env = env_for(app.runtime.settings, SCRAPETRACK_URL=app.url, SCRAPETRACK_TOKEN=token)
    done = run(["search", "instagram", "--similar-to", "@fitwithmia", "--target", "20"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("completed")
    job_id = done.stderr.split("job ", 1)[1].split()[0]
    exported = run(["export", job_id, "--format", "json"], env)
    creators = json.loads(exported.stdout)
    assert creators and all(c["similarityScore"] is not None for c in creators)
    missing = run(["search", "tiktok", "--similar-to", "sandbox.notfound"], env)
    assert missing.returncode == 1 and missing.stdout.startswith("error")
