"""Tenancy: user B tries every route on user A's campaign and job. Each answer must be the
very answer for a resource that does not exist: same status, same body, same headers that
could tell them apart. On SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.conftest import App, wait_for_job

MISSING = "0f0f0f0f-0f0f-4f0f-8f0f-0f0f0f0f0f0f"
# Headers that differ between any two answers and say nothing about the resource.
VARYING = {"date", "set-cookie"}


def comparable(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in VARYING}
    return response.status_code, response.content, headers


def routes(campaign_id: str, job_id: str,
           workspace_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(method, path, JSON body) of every route that takes a campaign, a job or a
    workspace."""
    search = {"campaignId": campaign_id, "keywords": ["fitness"], "targetResults": 5}
    ws = f"/api/workspaces/{workspace_id}"
    return [
        ("GET", ws, None),
        ("DELETE", ws, None),
        ("POST", f"{ws}/transfer", {"userId": MISSING}),
        ("GET", f"{ws}/members", None),
        ("PUT", f"{ws}/members/{MISSING}", {"role": "viewer"}),
        ("DELETE", f"{ws}/members/{MISSING}", None),
        ("POST", f"{ws}/invitations", {"email": "x@example.com", "role": "viewer"}),
        ("GET", f"{ws}/invitations", None),
        ("DELETE", f"{ws}/invitations/{MISSING}", None),
        ("GET", f"{ws}/audit", None),
        ("GET", f"/api/jobs?workspaceId={workspace_id}", None),
        ("POST", "/api/campaigns", {"name": "x", "workspaceId": workspace_id}),
        ("GET", f"/workspaces/{workspace_id}", None),
        ("GET", f"/api/campaigns/{campaign_id}", None),
        ("GET", f"/api/campaigns/{campaign_id}/events", None),
        ("POST", "/api/scraping/tiktok", search),
        ("POST", "/api/scraping/youtube", {**search, "targetUsername": "someone"}),
        ("GET", f"/api/scraping/tiktok?jobId={job_id}", None),
        ("GET", f"/api/scraping/instagram?jobId={job_id}", None),
        ("GET", f"/api/jobs/{job_id}/events", None),
        ("GET", f"/api/jobs/{job_id}/events?lastEventId=1", None),
        ("POST", f"/api/jobs/{job_id}/cancel", None),
        ("POST", f"/api/jobs/{job_id}/rerun", None),
        ("GET", f"/api/jobs/{job_id}/results", None),
        ("GET", f"/api/jobs/{job_id}/results?format=csv", None),
        ("GET", f"/api/jobs/{job_id}/results?afterId=0", None),
        ("GET", f"/campaigns/{campaign_id}", None),
        ("GET", f"/searches/{job_id}", None),
        ("DELETE", f"/api/jobs/{job_id}", None),
        ("DELETE", f"/api/campaigns/{campaign_id}", None),
        ("GET", f"/api/campaigns/{campaign_id}/creators", None),
        ("GET", f"/api/campaigns/{campaign_id}/creators/export?format=xlsx", None),
        ("GET", f"/api/jobs/{job_id}/results?format=xlsx&fields=handle", None),
        ("GET", f"/api/campaigns/{campaign_id}/creators?sort=-newest&limit=1", None),
        ("PATCH", f"/api/campaigns/{campaign_id}/creators/1", {"status": "excluded"}),
        ("POST", f"/api/campaigns/{campaign_id}/creators/bulk",
         {"ids": list(range(1, 100)), "status": "excluded"}),
    ]


@pytest.mark.parametrize("finished", [False, True], ids=["running", "finished"])
def test_someone_elses_resources_answer_exactly_like_missing_ones(app: App,
                                                                  finished: bool) -> None:
    alice, bob = app.user("alice@example.com"), app.user("bob@example.com")
    campaign = alice.post("/api/campaigns", json={"name": "Alice's secret launch"}).json()
    job = alice.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": ["fitness"],
        "targetResults": 30 if finished else 5000}).json()
    if finished:
        assert wait_for_job(alice, job)[0]["status"] == "completed"
    theirs = routes(campaign["id"], job["id"], campaign["workspaceId"])
    missing = routes(MISSING, MISSING, MISSING)
    for (method, path, body), (_, missing_path, missing_body) in zip(theirs, missing,
                                                                    strict=True):
        answer = bob.request(method, path, json=body)
        nothing = bob.request(method, missing_path, json=missing_body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert comparable(answer) == comparable(nothing), (method, path)
        assert campaign["id"] not in answer.text and job["id"] not in answer.text
        assert campaign["workspaceId"] not in answer.text
        assert "Alice" not in answer.text
        if path.startswith("/api"):
            assert set(answer.json()) == {"error"}
    # Nothing of Alice's changed: her job was not cancelled, no job was added to her campaign.
    mine = alice.get(f"/api/campaigns/{campaign['id']}").json()
    assert [j["id"] for j in mine["scrapingJobs"]] == [job["id"]]
    assert mine["scrapingJobs"][0]["status"] != "cancelled"
    assert bob.get("/api/campaigns").json() == []
    alice.post(f"/api/jobs/{job['id']}/cancel")


def test_lists_and_pages_show_only_ones_own(app: App) -> None:
    alice, bob = app.user("alice@example.com"), app.user("bob@example.com")
    alice.post("/api/campaigns", json={"name": "Alice only"})
    bob.post("/api/campaigns", json={"name": "Bob only"})
    assert [c["name"] for c in alice.get("/api/campaigns").json()] == ["Alice only"]
    assert [c["name"] for c in bob.get("/api/campaigns").json()] == ["Bob only"]
    page = bob.get("/")
    assert page.status_code == 200
    assert "Bob only" in page.text and "Alice only" not in page.text


def test_ids_that_cannot_exist_never_reach_the_database(app: App) -> None:
    """A NUL or a lone surrogate in an id is an error for PostgreSQL, not "not found"."""
    bob = app.user("bob@example.com")
    for raw in ("%00", "a%00b", "%ED%A0%80", "x" * 500, "..%2F..", "' OR 1=1 --"):
        for path in (f"/api/campaigns/{raw}", f"/api/jobs/{raw}/results",
                     f"/api/scraping/tiktok?jobId={raw}", f"/api/jobs/{raw}/events"):
            answer = bob.get(path)
            assert answer.status_code == 404, (path, answer.text)
            assert re.fullmatch(r"(Campaign|Job) not found|Not Found", answer.json()["error"])
