"""The `scrapetrack` command as a user runs it: real subprocesses against real backends."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scrapetrack.config import Settings
from tests.conftest import sign_in_by_link, wait_until
from tests.integration.conftest import App, wait_for_job

SCRAPETRACK = str(Path(sys.executable).with_name("scrapetrack"))


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": settings.database_url, "QUEUE_URL": settings.queue_url,
        "REDIS_URL": settings.redis_url or "", "QUEUE_NAME": settings.queue_name,
        "APIFY_API_URL": settings.resolved_apify_api_url(), "APIFY_TOKEN": "sandbox-token",
        "SCRAPETRACK_DATA_DIR": str(settings.data_dir), "WORKER_POLL_INTERVAL_SECONDS": "0.1",
    })
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRAPETRACK, *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False, **kwargs)


def test_users_create_prints_the_token_last(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    env = env_for(settings)
    assert run(["migrate"], env).stdout.strip() == "database is up to date"
    created = run(["users", "create", "Carol@Example.com"], env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("st_") and " " not in token
    again = run(["users", "create", "carol@example.com"], env)
    assert again.returncode == 1
    assert "already exists" in again.stderr
    listed = run(["users", "list"], env)
    assert "carol@example.com" in listed.stdout
    assert token not in listed.stdout


def test_users_sign_in_and_remove(app: App) -> None:
    """A fresh sign-in link for a teammate's browser; removing them ends their session."""
    env = env_for(app.runtime.settings, PUBLIC_URL=app.url)
    app.runtime.accounts.create_user("erin@example.com")
    printed = run(["users", "sign-in", "erin@example.com"], env)
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip()
    assert link.startswith(f"{app.url}/login?code=")
    browser = app.client()
    assert sign_in_by_link(browser, link).status_code == 303
    assert "browser session, ends in " in run(["users", "list"], env).stdout
    unknown = run(["users", "sign-in", "nobody@example.com"], env)
    assert unknown.returncode == 1 and "No user with email nobody@example.com" in unknown.stderr
    removed = run(["users", "remove", "erin@example.com"], env)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "removed erin@example.com (0 running search(es) cancelled)"
    # The web process remembers a session for CREDENTIAL_CACHE_SECONDS: not told by the command.
    wait_until(lambda: browser.get("/api/campaigns").status_code == 401,
               app.runtime.settings.credential_cache_seconds + 3, "the session to end")
    assert "erin@example.com" not in run(["users", "list"], env).stdout


def test_a_worker_process_runs_jobs_and_stops_on_sigterm(start_app: Callable[..., App]) -> None:
    app = start_app()
    app.runtime.stop_worker()  # this process only serves; the worker is another process
    env = env_for(app.runtime.settings)
    worker = subprocess.Popen([SCRAPETRACK, "worker", "--concurrency", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        alice = app.user("alice@example.com")
        campaign = alice.post("/api/campaigns", json={"name": "c"}).json()
        job = alice.post("/api/scraping/tiktok", json={
            "campaignId": campaign["id"], "keywords": ["yoga"], "targetResults": 60}).json()
        final, _ = wait_for_job(alice, job)
        assert final["status"] == "completed"
        assert final["progress"] == 100
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert "started" in output


def test_search_follows_a_job_and_export_prints_its_creators(app: App) -> None:
    token = app.runtime.accounts.create_user("dave@example.com").token
    env = env_for(app.runtime.settings, SCRAPETRACK_URL=app.url, SCRAPETRACK_TOKEN=token)
    done = run(["search", "tiktok", "--keyword", "fitness coach", "--target", "50",
                "--campaign", "CLI"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("completed")
    job_id = done.stderr.split("job ", 1)[1].split()[0]
    exported = run(["export", job_id, "--format", "csv"], env)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert rows and all(r["platform"] == "tiktok" for r in rows)
    failed = run(["search", "tiktok", "-k", "sandbox:failed", "--target", "20"], env)
    assert failed.returncode == 1
    assert failed.stdout.startswith("error")
    unknown = run(["search", "myspace", "-k", "x"], env)
    assert unknown.returncode == 1
    assert "Unknown platform" in unknown.stderr
