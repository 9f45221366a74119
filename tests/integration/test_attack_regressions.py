"""What an outside attack found open, each shut and kept shut: odd input that gave a 5xx, a
creation flood, headers that said too much, files others could read, an open /metrics."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import App
from tests.integration.test_cli import run
from tests.integration.test_cli_client import client_env


def test_odd_ids_and_event_ids_are_refused_not_a_server_error(app: App) -> None:
    alice = app.user("alice@example.com")
    refused = alice.get("/api/jobs", params={"campaignId": "\x00"})
    assert refused.status_code == 400
    assert refused.json() == {"error": "campaignId must be a campaign's id"}
    campaign = alice.post("/api/campaigns", json={"name": "c"}).json()
    job = alice.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 5}).json()
    for sent in ({"headers": {"Last-Event-ID": "9" * 5000}},
                 {"params": {"lastEventId": "9" * 19}}):
        answer = alice.get(f"/api/jobs/{job['id']}/events", **sent)  # type: ignore[arg-type]
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": "Last-Event-ID must be a whole number up to "
                                          "18 digits"}


def test_campaign_creation_is_rate_limited_per_user(start_app: Callable[..., App]) -> None:
    app = start_app(CAMPAIGN_RATE_LIMIT_PER_MINUTE=3)
    alice, bob = app.user("alice@example.com"), app.user("bob@example.com")
    codes = [alice.post("/api/campaigns", json={"name": f"c{n}"}).status_code
             for n in range(4)]
    assert codes == [201, 201, 201, 429]
    limited = alice.post("/api/campaigns", json={"name": "again"})
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json()["error"].startswith("You can create 3 campaigns a minute")
    assert len(alice.get("/api/campaigns").json()) == 3
    assert bob.post("/api/campaigns", json={"name": "b"}).status_code == 201  # per user


def test_headers_say_no_more_than_they_must(app: App) -> None:
    alice = app.user("alice@example.com")
    answer = alice.get("/api/campaigns")
    assert "server" not in answer.headers
    assert answer.headers["cache-control"] == "no-store"
    assert "server" not in httpx.get(f"{app.url}/healthz").headers
    # A trailing slash is not redirected to a URL built from the Host header.
    odd = httpx.get(f"{app.url}/api/campaigns/", headers={"Host": "evil.example"},
                    follow_redirects=False)
    assert odd.status_code != 307 and "evil.example" not in odd.headers.get("location", "")


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_files_scrapetrack_creates_are_private(start_app: Callable[..., App],
                                                tmp_path: Path) -> None:
    app = start_app(database_url=f"sqlite:///{tmp_path}/private.db",
                    queue_url=f"sqlite:///{tmp_path}/private-queue.db")
    app.user("alice@example.com")
    for name in ("private.db", "private-queue.db"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_metrics_can_require_a_token(start_app: Callable[..., App]) -> None:
    open_app = start_app()
    assert httpx.get(f"{open_app.url}/metrics").status_code == 200
    guarded = start_app(METRICS_TOKEN="s3cret-metrics")
    assert httpx.get(f"{guarded.url}/metrics").status_code == 401
    wrong = httpx.get(f"{guarded.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "Metrics need their token"}
    right = httpx.get(f"{guarded.url}/metrics",
                      headers={"Authorization": "Bearer s3cret-metrics"})
    assert right.status_code == 200 and "scrapetrack_jobs" in right.text


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_the_cli_shows_scraped_markup_as_text(app: App) -> None:
    env, _ = client_env(app, "cli@example.com")
    shown = run(["search", "tiktok", "-k", "sandbox:hostile", "--target", "300", "--top",
                 "300"], {**env, "COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    assert "[/bold] [red]not markup[/red]" in shown.stdout
