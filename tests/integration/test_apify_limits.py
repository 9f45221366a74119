"""What a search costs and how it meets the platform's limits, end to end: API → queue →
worker → apify-client → the strict sandbox. Runs are capped when they start, cut at the
target, their cost is kept and shown; a 402 waits for capacity, an early 404 is ridden out,
an approval 403 says what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from scrapetrack.sandbox.actors import INSTAGRAM_SEARCH, TIKTOK_SEARCH
from tests.conftest import HeldSandbox, wait_until
from tests.integration.conftest import App, wait_for_items, wait_for_job
from tests.integration.test_keyword_job import start

PRICE = TIKTOK_SEARCH.price_per_item_usd


def status(client: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = client.get(f"/api/jobs/{job['id']}").json()
    return answer


def test_a_run_is_capped_at_the_target_and_its_cost_is_kept(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 60)
    run = held_sandbox.run(1)
    assert (run.plan.caps.max_items, run.plan.caps.max_total_charge_usd) == (60, None)
    held_sandbox.write(run, 30)
    wait_for_items(alice, job, 30)
    # The run's own message and cost, as the worker's next look at the run finds them.
    mid = wait_until(lambda: (s := status(alice, job))["statusMessage"]
                     == f"Scraped 30 of {run.plan.target} items" and s, 30, "the run's message")
    assert mid["apifyRunId"] == run.id
    assert mid["consoleUrl"] == f"https://console.apify.com/actors/runs/{run.id}"
    assert mid["costUsd"] == pytest.approx(30 * PRICE, abs=1e-6)
    held_sandbox.finish(run)
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed"
    assert final["costUsd"] == pytest.approx(final["itemsRead"] * PRICE, abs=1e-6)
    assert final["statusMessage"].startswith("Finished!")
    metrics = alice.get("/metrics").text
    assert f'scrapetrack_apify_cost_usd_total{{platform="tiktok"}} {final["costUsd"]}' in metrics


def test_an_actor_that_over_delivers_is_cut_at_the_target(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga", "sandbox:overdeliver"], 40)
    run = held_sandbox.run(1)
    assert run.plan.target == 40 + 100  # it writes past its maxItems
    held_sandbox.write(run, 120)
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed"
    assert final["processedResults"] == final["targetResults"] == 40
    assert run.aborted_at is not None, "the run was left running"
    # What the run had written when it was aborted is what it cost.
    assert final["costUsd"] == pytest.approx(120 * PRICE, abs=1e-6)
    creators = alice.get(f"/api/jobs/{job['id']}/results").json()
    assert sum(c["videos"] for c in creators) == 40


def test_a_budget_caps_the_run_and_is_checked(held_sandbox: HeldSandbox,
                                              start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url, MAX_CHARGE_USD_PER_SEARCH=1.0)
    alice = app.user("alice@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "c"}).json()
    for budget, message in ((-1, "budgetUsd must be a number of dollars above 0"),
                            (5, "budgetUsd can be at most 1 (MAX_CHARGE_USD_PER_SEARCH)"),
                            ("a lot", None)):
        refused = alice.post("/api/scraping/tiktok", json={
            "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 50,
            "budgetUsd": budget})
        assert refused.status_code in (400, 422), refused.text
        assert message is None or refused.json() == {"error": message}
    ceiling = start(alice, ["yoga"], 50)
    assert ceiling["budgetUsd"] == 1.0
    asked = alice.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": ["hiit"], "targetResults": 50,
        "budgetUsd": 0.006}).json()
    assert asked["budgetUsd"] == 0.006
    caps = {held_sandbox.run(n).plan.caps.max_total_charge_usd for n in (1, 2)}
    assert caps == {1.0, 0.006}
    held_sandbox.finish(held_sandbox.run(2))
    held_sandbox.finish(held_sandbox.run(1))
    final, _ = wait_for_job(alice, asked)
    # $0.006 buys 20 results at the sandbox's price: the run ends there, the job with it.
    assert final["status"] == "completed" and final["itemsRead"] == 20
    assert final["costUsd"] == pytest.approx(0.006)


def test_a_full_account_leaves_the_job_pending_until_there_is_room(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url, APIFY_CAPACITY_RETRY_SECONDS=0.2)
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga", "sandbox:fault=runs:402x2"], 30)
    waiting = wait_until(
        lambda: (s := status(alice, job))["status"] == "pending"
        and (s["statusMessage"] or "").startswith("Waiting for Apify capacity") and s, 30,
        "the job to wait for capacity")
    assert "actor-memory-limit-exceeded" in waiting["statusMessage"]
    assert waiting["error"] is None
    held_sandbox.finish(held_sandbox.run(1))
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed", final
    assert held_sandbox.state.injected["runs:402"] == 2
    assert held_sandbox.state.runs_started == 1


def test_no_capacity_within_the_job_timeout_times_out(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url, APIFY_CAPACITY_RETRY_SECONDS=0.2,
                    JOB_TIMEOUT_SECONDS=1)
    alice = app.user("alice@example.com")
    final, _ = wait_for_job(alice, start(alice, ["yoga", "sandbox:fault=runs:402"], 30))
    assert final["status"] == "timeout"
    assert final["error"].startswith("Apify had no capacity for this search within "
                                     "JOB_TIMEOUT_SECONDS")
    assert held_sandbox.state.runs_started == 0


def test_a_run_unknown_just_after_its_start_is_ridden_out(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    # The start is the first runs request; the two reads after it answer 404.
    job = start(alice, ["yoga", "sandbox:fault=runs:404+1x2"], 30)
    held_sandbox.finish(held_sandbox.run(1))
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed", final
    assert held_sandbox.state.injected["runs:404"] == 2


def test_an_actor_awaiting_approval_ends_the_job_saying_what_to_do(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    final, _ = wait_for_job(alice, start(alice, ["yoga", "sandbox:fault=runs:approval"], 30))
    assert final["status"] == "error"
    assert "needs your approval before it can run on your account: open " \
           "https://console.apify.com/actors/" in final["error"]
    assert "approvePermissions=true" in final["error"]


def test_the_embedded_sandbox_links_no_console_page(held_sandbox: HeldSandbox,
                                                    start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url, apify_token=None)
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 20)
    held_sandbox.finish(held_sandbox.run(1))
    final, _ = wait_for_job(alice, job)
    assert final["apifyRunId"] and final["consoleUrl"] is None


def test_the_seed_status_route_keeps_the_seed_vocabulary(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    job = start(alice, ["yoga"], 50)
    held_sandbox.write(held_sandbox.run(1), 10)
    wait_for_items(alice, job, 10)
    assert alice.post(f"/api/jobs/{job['id']}/cancel").status_code == 202
    seed = alice.get("/api/scraping/tiktok", params={"jobId": job["id"]}).json()
    assert (seed["status"], seed["error"]) == ("error", "Cancelled")  # a seed client stops
    assert status(alice, job)["status"] == "cancelled"
    listed = alice.get("/api/jobs").json()["items"]
    assert [j["status"] for j in listed if j["id"] == job["id"]] == ["cancelled"]


def test_instagram_owners_are_looked_up_and_a_failed_lookup_loses_nothing(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    """Hashtag posts name their owner only: the owners are looked up through the profile
    actor in batches, a stage of its own; a batch whose run fails leaves those creators
    unknown, and the job goes on."""
    app = start_app(apify_api_url=held_sandbox.url, PROFILE_LOOKUP_BATCH=10)
    alice = app.user("alice@example.com")
    job = start(alice, ["fitness", "yoga"], 60, "instagram")
    held_sandbox.finish(held_sandbox.run(1))  # the hashtag search
    first = held_sandbox.run(2)
    assert first.actor_id == "apify~instagram-profile-scraper"
    looking = wait_until(lambda: (s := status(alice, job))["profileLookups"] and s, 30,
                         "the lookups to begin")
    total = looking["creatorsCount"]
    assert (looking["status"], looking["stage"]) == ("processing", "processing")
    assert looking["profileLookups"] == {"total": total, "done": 0, "failed": 0}
    assert total >= 20, "several batches are needed"
    held_sandbox.fail(first)  # its 10 creators stay unknown
    held_sandbox.finish(first)

    # Every later batch is let through as it begins.
    final, _ = wait_for_job(alice, job, meanwhile=lambda: held_sandbox.finish_begun(3))
    assert final["status"] == "completed", final
    assert final["profileLookups"] == {"total": total, "done": total - 10, "failed": 10}
    assert held_sandbox.state.runs_started == 1 + -(-total // 10)
    creators = alice.get(f"/api/jobs/{job['id']}/results").json()
    known = [c for c in creators if c["followers"] is not None]
    assert len(known) == total - 10
    assert all(c["engagementRate"] is not None for c in known)
    unknown = {c["handle"] for c in creators if c["followers"] is None}
    assert len(unknown) == 10
    # Every run's cost counts, the search's and each lookup's.
    usage = sum(run.plan.usage_usd(run.produced(held_sandbox.now[0]))
                for run in held_sandbox.state.runs)
    assert final["costUsd"] == pytest.approx(usage, abs=1e-4)


def test_lookups_past_the_budget_leave_creators_unknown(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    """A search that spends its whole budget on the hashtag search completes with what it
    found: no lookup run starts, its creators stay unknown, and the job says why."""
    app = start_app(apify_api_url=held_sandbox.url, PROFILE_LOOKUP_BATCH=2)
    alice = app.user("alice@example.com")
    budget = round(20 * INSTAGRAM_SEARCH.price_per_item_usd, 6)  # buys 20 posts
    job = start(alice, ["fitness"], 60, "instagram", budgetUsd=budget)
    held_sandbox.finish(held_sandbox.run(1))
    final, _ = wait_for_job(alice, job)
    assert final["status"] == "completed", final
    assert final["costUsd"] == pytest.approx(budget)
    total = final["creatorsCount"]
    assert total > 2, "more than one batch was left unknown"
    assert final["profileLookups"] == {"total": total, "done": 0, "failed": total}
    assert final["statusMessage"] == ("Some creators have no follower count: This search's "
                                      f"budget of ${budget:g} is spent (its runs cost "
                                      f"${budget:g})")
    assert held_sandbox.state.runs_started == 1
    creators = alice.get(f"/api/jobs/{job['id']}/results").json()
    assert len(creators) == total and all(c["followers"] is None for c in creators)


def test_runs_at_once_are_capped_across_workers(held_sandbox: HeldSandbox,
                                                start_app: Callable[..., App]) -> None:
    """APIFY_MAX_CONCURRENT_RUNS counts in the store: two apps, each with its worker, on one
    store; the second search waits for capacity until the first one's run is over."""
    settings = {"apify_api_url": held_sandbox.url, "APIFY_MAX_CONCURRENT_RUNS": 1,
                "APIFY_CAPACITY_RETRY_SECONDS": 0.2}
    one = start_app(**settings)
    two = start_app(**settings)
    token = one.runtime.accounts.create_user("alice@example.com").token
    alice, other = one.client(token), two.client(token)
    first = start(alice, ["yoga"], 20)
    run = held_sandbox.run(1)
    second = start(other, ["hiit"], 20)
    waiting = wait_until(lambda: (s := status(alice, second))["status"] == "pending"
                         and "APIFY_MAX_CONCURRENT_RUNS (1)" in (s["statusMessage"] or "")
                         and s, 30, "the second search to wait for a run slot")
    assert waiting["apifyRunId"] is None and held_sandbox.state.runs_started == 1
    held_sandbox.finish(run)
    assert wait_for_job(alice, first)[0]["status"] == "completed"
    held_sandbox.finish(held_sandbox.run(2))
    assert wait_for_job(alice, second)[0]["status"] == "completed"
    assert held_sandbox.state.runs_started == 2
