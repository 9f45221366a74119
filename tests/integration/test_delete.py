"""Deleting searches and campaigns, and RETENTION_DAYS: a running search is cancelled first
and its Apify run aborted; creators only deleted searches found leave the campaign's list."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import HeldSandbox, wait_until
from tests.integration.conftest import App, wait_for_items, wait_for_job


def search(client: httpx.Client, campaign_id: str, keywords: list[str],
           target: int) -> dict[str, Any]:
    answer = client.post("/api/scraping/tiktok", json={
        "campaignId": campaign_id, "keywords": keywords, "targetResults": target})
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def listed(client: httpx.Client, campaign_id: str) -> dict[str, list[str]]:
    page = client.get(f"/api/campaigns/{campaign_id}/creators", params={"limit": 500}).json()
    return {c["handle"].lower(): c["foundBy"] for c in page["items"]}


def test_a_deleted_search_takes_the_creators_only_it_found(app: App) -> None:
    alice = app.user("alice@example.com")
    campaign_id = alice.post("/api/campaigns", json={"name": "c"}).json()["id"]
    kept = wait_for_job(alice, search(alice, campaign_id, ["yoga"], 30))[0]
    gone = wait_for_job(alice, search(alice, campaign_id, ["yoga"], 45))[0]
    other = wait_for_job(alice, search(alice, campaign_id, ["marathon"], 20))[0]
    before = listed(alice, campaign_id)
    assert any(found == [kept["id"], gone["id"]] for found in before.values())
    only_gone = {h for h, found in before.items() if found == [gone["id"]]}
    assert only_gone, "the larger search found no creator of its own"

    assert alice.delete(f"/api/jobs/{gone['id']}").status_code == 204
    assert alice.get(f"/api/jobs/{gone['id']}").status_code == 404
    assert alice.get(f"/api/jobs/{gone['id']}/results").status_code == 404
    after = listed(alice, campaign_id)
    assert set(after) == set(before) - only_gone
    assert all(gone["id"] not in found for found in after.values())
    assert {j["id"] for j in alice.get(f"/api/campaigns/{campaign_id}").json()[
        "scrapingJobs"]} == {kept["id"], other["id"]}
    assert alice.delete(f"/api/jobs/{gone['id']}").status_code == 404


def test_deleting_a_running_search_or_its_campaign_aborts_the_run(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    alice = app.user("alice@example.com")
    campaign_id = alice.post("/api/campaigns", json={"name": "c"}).json()["id"]
    job = search(alice, campaign_id, ["yoga"], 1000)
    run = held_sandbox.run(1)
    held_sandbox.write(run, 20)
    wait_for_items(alice, job, 20)
    assert alice.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert run.aborted_at is not None
    assert alice.get(f"/api/jobs/{job['id']}").status_code == 404
    assert listed(alice, campaign_id) == {}

    second = search(alice, campaign_id, ["hiit"], 1000)
    run = held_sandbox.run(2)
    held_sandbox.write(run, 10)
    wait_for_items(alice, second, 10)
    assert alice.delete(f"/api/campaigns/{campaign_id}").status_code == 204
    assert run.aborted_at is not None
    assert alice.get(f"/api/campaigns/{campaign_id}").status_code == 404
    assert alice.get(f"/api/jobs/{second['id']}").status_code == 404
    assert alice.get("/api/campaigns").json() == []
    wait_until(lambda: second["id"] not in app.runtime.runner.active,
               what="the worker to let go of the deleted job")


def test_retention_deletes_old_finished_searches_and_says_so(
        start_app: Callable[..., App], caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="scrapetrack.service")
    app = start_app(RETENTION_DAYS=3 / 86400)  # three seconds
    alice = app.user("alice@example.com")
    campaign_id = alice.post("/api/campaigns", json={"name": "c"}).json()["id"]
    job = wait_for_job(alice, search(alice, campaign_id, ["yoga"], 20))[0]
    wait_until(lambda: alice.get(f"/api/jobs/{job['id']}").status_code == 404, 30,
               "the finished search to expire")
    assert listed(alice, campaign_id) == {}
    assert alice.get(f"/api/campaigns/{campaign_id}").status_code == 200  # the campaign stays
    metrics = httpx.get(f"{app.url}/metrics").text
    assert "scrapetrack_searches_expired_total 1.0" in metrics
    assert any("retention: deleted 1 searches" in r.getMessage() for r in caplog.records)
