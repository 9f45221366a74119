"""`make serve` stopped mid-search and started again: the embedded sandbox keeps its runs under
var/, so the job resumes the same Apify run where it stood, and counts every item once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from scrapetrack.config import load_settings
from tests.conftest import wait_until
from tests.e2e.conftest import OURS, SCRAPETRACK, serve

# The run writes 60 items, then stays RUNNING until aborted (the sandbox's fault grammar):
# the job is mid-run whatever the machine's pace when serve is stopped.
HANGING = "sandbox:fault=run:never-finish+60"


def test_a_search_resumes_its_run_after_serve_restarts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    with serve(tmp_path, SANDBOX_ITEMS_PER_SECOND="50") as first:
        created = subprocess.run([str(SCRAPETRACK), "users", "create", "me@example.com"],
                                 cwd=tmp_path, env=env, capture_output=True, text=True,
                                 check=True, timeout=60)
        token = created.stdout.strip().splitlines()[-1]
        api = httpx.Client(base_url=first.url, timeout=30,
                           headers={"Authorization": f"Bearer {token}"})
        campaign = api.post("/api/campaigns", json={"name": "restart"}).json()
        job = api.post("/api/scraping/tiktok", json={
            "campaignId": campaign["id"], "keywords": ["fitness", HANGING],
            "targetResults": 200}).json()

        def read_all() -> dict[str, Any] | None:
            status: dict[str, Any] = api.get(f"/api/jobs/{job['id']}").json()
            return status if status["itemsRead"] == 60 else None

        before = wait_until(read_all, 60, "the job to read what the run wrote")
        api.close()

    with serve(tmp_path, SANDBOX_ITEMS_PER_SECOND="50") as second:
        api = httpx.Client(base_url=second.url, timeout=30,
                           headers={"Authorization": f"Bearer {token}"})

        def resumed() -> dict[str, Any] | None:
            status: dict[str, Any] = api.get(f"/api/jobs/{job['id']}").json()
            assert status["status"] in ("pending", "processing"), status
            return status if status["status"] == "processing" and status["startedAt"] \
                and api.get("/metrics").status_code == 200 \
                and _claimed_again(second.output) else None

        after = wait_until(resumed, 60, "the job to be taken up by the new worker")
        assert after["apifyRunId"] == before["apifyRunId"]  # the same run, not a new one
        # The new process's sandbox knows the run: running still, with what it wrote.
        # Asked with the token the app sends it, derived from the deployment's SECRET_KEY.
        deployment = load_settings(SCRAPETRACK_DATA_DIR=tmp_path / "var", apify_token=None,
                                   apify_api_url=None).with_secret_key()
        sandbox = httpx.Client(base_url=f"{second.url}/sandbox", timeout=30, headers={
            "Authorization": f"Bearer {deployment.sandbox_token()}"})
        run = sandbox.get(f"/v2/actor-runs/{after['apifyRunId']}")
        assert run.status_code == 200, run.text
        assert run.json()["data"]["status"] == "RUNNING"
        dataset = run.json()["data"]["defaultDatasetId"]
        items = sandbox.get(f"/v2/datasets/{dataset}/items")
        sandbox.close()
        assert len(items.json()) == 60
        assert after["itemsRead"] == 60 and after["error"] is None
        assert (after["processedResults"], after["skippedItems"]) == (
            before["processedResults"], before["skippedItems"])
        # The kept run answers an abort too: the job is cancelled cleanly.
        assert api.post(f"/api/jobs/{job['id']}/cancel").status_code == 202
        final = api.get(f"/api/jobs/{job['id']}").json()
        assert final["status"] == "cancelled"
        creators = api.get(f"/api/jobs/{job['id']}/results").json()
        assert sum(c["videos"] for c in creators) == final["processedResults"]
        api.close()
    assert (tmp_path / "var" / "sandbox-runs.json").stat().st_mode & 0o777 == 0o600


def _claimed_again(output: list[str]) -> bool:
    """The new serve's worker has taken up the handed-back job (its log says so)."""
    return any("started on" in line and "(attempt 2)" in line for line in output)
