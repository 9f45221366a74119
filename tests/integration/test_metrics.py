"""`/metrics` after real jobs: the store's truth and the process's own counters, parsed with
prometheus_client's own parser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import HeldSandbox, wait_until
from tests.integration.conftest import App, wait_for_job

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of `/metrics`, keyed by (name, sorted labels)."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def start(client: httpx.Client, campaign: dict[str, Any], keyword: str,
          target: int) -> dict[str, Any]:
    response = client.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": [keyword], "targetResults": target})
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def test_metrics_after_jobs(app: App) -> None:
    before = scrape(app.url)
    assert value(before, "scrapetrack_jobs", status="completed") == 0
    assert value(before, "scrapetrack_store_up") == 1
    assert value(before, "scrapetrack_queue_up") == 1

    alice = app.user("alice@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "metrics"}).json()
    done, _ = wait_for_job(alice, start(alice, campaign, "yoga", 60))
    # One malformed items page: not retried by apify-client, counted, then read again.
    flaky, _ = wait_for_job(alice, start(alice, campaign, "sandbox:fault=items:malformedx1",
                                         30))
    failed, _ = wait_for_job(alice, start(alice, campaign, "sandbox:failed", 20))
    assert (done["status"], flaky["status"], failed["status"]) == \
        ("completed", "completed", "error")

    after = scrape(app.url)
    assert value(after, "scrapetrack_jobs", status="completed") == 2
    assert value(after, "scrapetrack_jobs", status="error") == 1
    assert value(after, "scrapetrack_jobs", status="processing") == 0
    read = done["processedResults"] + done["skippedItems"] + flaky["processedResults"] + \
        flaky["skippedItems"] + failed["processedResults"] + failed["skippedItems"]
    assert value(after, "scrapetrack_items_ingested_total", platform="tiktok") == read
    assert value(after, "scrapetrack_job_duration_seconds_count", status="completed") == 2
    assert value(after, "scrapetrack_job_duration_seconds_count", status="error") == 1
    assert value(after, "scrapetrack_job_duration_seconds_bucket", status="completed",
                 le="+Inf") == 2
    assert 0 < value(after, "scrapetrack_job_duration_seconds_sum", status="completed") < 120
    assert value(after, "scrapetrack_job_pickup_latency_seconds_count") == 3
    # Buckets are cumulative: each count is at most the next one.
    pickup = [v for (name, labels), v in sorted(
        after.items(), key=lambda kv: float(dict(kv[0][1]).get("le", "0").replace(
            "+Inf", "inf"))) if name == "scrapetrack_job_pickup_latency_seconds_bucket"]
    assert pickup == sorted(pickup) and pickup[-1] == 3
    assert value(after, "scrapetrack_apify_requests_total", operation="start") == 3
    assert value(after, "scrapetrack_apify_requests_total", operation="items") >= 3
    assert value(after, "scrapetrack_apify_requests_total", operation="get_run") >= 3
    assert value(after, "scrapetrack_apify_errors_total", operation="items",
                 kind="malformed") == 1
    assert value(after, "scrapetrack_oldest_heartbeat_age_seconds") == 0
    assert ("scrapetrack_queue_depth", ()) in after


def test_open_streams_and_running_jobs(held_sandbox: HeldSandbox,
                                      start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)  # the job runs until it is cancelled
    alice = app.user("alice@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "streams"}).json()
    job = start(alice, campaign, "marathon", 5000)
    wait_until(lambda: alice.get(f"/api/scraping/tiktok?jobId={job['id']}").json()["status"]
               == "processing", 30, "the job to start")
    with alice.stream("GET", f"/api/campaigns/{campaign['id']}/events") as one, \
            alice.stream("GET", f"/api/jobs/{job['id']}/events") as two:
        assert one.status_code == two.status_code == 200
        def both_counted() -> Samples | None:
            samples = scrape(app.url)
            return samples if value(samples, "scrapetrack_sse_connections") == 2 else None

        samples = wait_until(both_counted, 10, "two open streams counted")
        assert value(samples, "scrapetrack_jobs", status="processing") == 1
        assert 0 <= value(samples, "scrapetrack_oldest_heartbeat_age_seconds") < 30
    wait_until(lambda: value(scrape(app.url), "scrapetrack_sse_connections") == 0, 10,
               "closed streams no longer counted")
    assert alice.post(f"/api/jobs/{job['id']}/cancel").status_code == 202


def test_metrics_while_the_queue_is_backed_up(start_app: Callable[..., App]) -> None:
    app = start_app()
    app.runtime.stop_worker()  # nobody consumes: what is queued stays queued
    alice = app.user("alice@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "queued"}).json()
    for keyword in ("a", "b", "c"):
        start(alice, campaign, keyword, 10)
    samples = scrape(app.url)
    assert value(samples, "scrapetrack_queue_depth") == 3
    assert value(samples, "scrapetrack_jobs", status="pending") == 3
