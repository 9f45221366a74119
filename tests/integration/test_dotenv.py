"""Settings from `.env` in the working directory, under the process environment: and
`scrapetrack serve` started in a folder whose `.env` holds the Apify token runs searches
with it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from scrapetrack.config import load_settings
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.serving import serve_in_thread
from tests.conftest import wait_until
from tests.e2e.conftest import OURS, SCRAPETRACK, serve

TERMINAL = {"completed", "error", "timeout", "cancelled"}


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("# the team's settings\nAPIFY_TOKEN=from-dotenv\n"
                                   "WORKER_CONCURRENCY=7\nMAX_TARGET_RESULTS='500'\n"
                                   "SOMETHING_ELSE=ignored\n")
    monkeypatch.chdir(tmp_path)
    for name in ("APIFY_TOKEN", "WORKER_CONCURRENCY", "MAX_TARGET_RESULTS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.apify_token is not None
    assert settings.apify_token.get_secret_value() == "from-dotenv"
    assert (settings.worker_concurrency, settings.max_target_results) == (7, 500)
    monkeypatch.setenv("WORKER_CONCURRENCY", "3")
    assert load_settings().worker_concurrency == 3  # the process environment wins
    assert load_settings(WORKER_CONCURRENCY=5).worker_concurrency == 5  # and code over both
    monkeypatch.chdir(tmp_path.parent)
    assert load_settings().apify_token is None  # another folder, no `.env`


def test_serve_takes_the_apify_token_from_dotenv(tmp_path: Path) -> None:
    """The sandbox here refuses any other token (401, as Apify does), so a search that
    completes proves the token came from `.env`."""
    sandbox = create_sandbox_app(items_per_second=200.0, start_delay_seconds=0.1,
                                 token="dotenv-secret")
    with serve_in_thread(sandbox, lifespan=False) as apify:
        (tmp_path / ".env").write_text(f"APIFY_TOKEN=dotenv-secret\nAPIFY_API_URL={apify}\n")
        made = subprocess.run([str(SCRAPETRACK), "users", "create", "dot@example.com"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={k: v for k, v in os.environ.items() if k not in OURS},
                              check=True)
        token = made.stdout.strip().splitlines()[-1]
        with serve(tmp_path) as served, httpx.Client(
                base_url=served.url, headers={"Authorization": f"Bearer {token}"},
                timeout=30) as client:
            campaign = client.post("/api/campaigns", json={"name": "Dotenv"}).json()
            job = client.post("/api/scraping/tiktok", json={
                "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 10}).json()

            def ended() -> dict[str, object] | None:
                found: dict[str, object] = client.get(f"/api/jobs/{job['id']}").json()
                return found if found["status"] in TERMINAL else None

            final = wait_until(ended, 60, "the search to end")
            assert final["status"] == "completed", final
            assert "Sandbox mode" not in client.get("/login").text
