"""The HTTP API's contract: answers, errors, auth and tenancy, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from tests.integration.conftest import App


def make_campaign(client: httpx.Client, name: str = "Spring launch") -> dict[str, object]:
    response = client.post("/api/campaigns", json={"name": name, "description": "coaches"})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_campaigns_are_created_listed_and_read(app: App) -> None:
    alice = app.user("alice@example.com")
    created = make_campaign(alice)
    assert set(created) >= {"id", "name", "description", "createdAt"}
    assert created["name"] == "Spring launch"
    listed = alice.get("/api/campaigns").json()
    assert [c["id"] for c in listed] == [created["id"]]
    one = alice.get(f"/api/campaigns/{created['id']}").json()
    assert one["scrapingJobs"] == []
    assert one["name"] == "Spring launch"


def test_without_credentials_the_answer_is_401(app: App) -> None:
    anonymous = app.client()
    for method, path in (("GET", "/api/campaigns"), ("POST", "/api/campaigns"),
                         ("GET", "/api/scraping/tiktok?jobId=x")):
        response = anonymous.request(method, path, json={})
        assert response.status_code == 401
        assert "error" in response.json()
    bad = app.client("st_not-a-token")
    assert bad.get("/api/campaigns").status_code == 401
    basic = app.client()
    basic.headers["Authorization"] = "Basic abc"
    assert basic.get("/api/campaigns").status_code == 401


def test_the_seeds_status_errors(app: App) -> None:
    alice = app.user("alice@example.com")
    missing_id = alice.get("/api/scraping/tiktok")
    assert missing_id.status_code == 400
    assert missing_id.json() == {"error": "Job ID is required"}
    missing_job = alice.get("/api/scraping/tiktok", params={"jobId": "nope"})
    assert missing_job.status_code == 404
    assert missing_job.json() == {"error": "Job not found"}
    unknown = alice.get("/api/scraping/myspace", params={"jobId": "nope"})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Unknown platform"}


def test_bad_search_input_is_refused_whole(app: App) -> None:
    alice = app.user("alice@example.com")
    campaign = make_campaign(alice)
    cases = [
        ({"campaignId": campaign["id"], "keywords": [], "targetResults": 10}, 400),
        ({"campaignId": campaign["id"], "keywords": ["  "], "targetResults": 10}, 400),
        ({"campaignId": campaign["id"], "keywords": ["x" * 101], "targetResults": 10}, 400),
        ({"campaignId": campaign["id"], "keywords": ["a"] * 21, "targetResults": 10}, 400),
        ({"campaignId": campaign["id"], "keywords": ["fit"], "targetResults": 0}, 400),
        ({"campaignId": campaign["id"], "keywords": ["fit"], "targetResults": 10_001}, 400),
        ({"campaignId": campaign["id"], "keywords": ["fit"]}, 400),
        ({"campaignId": campaign["id"], "keywords": "fit", "targetResults": 10}, 422),
        ({"campaignId": campaign["id"], "keywords": ["fit"], "targetResults": "many"}, 422),
        ({"keywords": ["fit"], "targetResults": 10}, 422),
        ({"campaignId": "no-such", "keywords": ["fit"], "targetResults": 10}, 404),
    ]
    for body, status in cases:
        response = alice.post("/api/scraping/tiktok", json=body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert isinstance(error, str) and error
    not_json = alice.post("/api/scraping/tiktok", content=b"{oops",
                          headers={"Content-Type": "application/json"})
    assert not_json.status_code == 422
    assert not_json.json() == {"error": "The request body is not valid JSON"}
    unknown = alice.post("/api/scraping/myspace", json={
        "campaignId": campaign["id"], "keywords": ["fit"], "targetResults": 10})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "Unknown platform"}
    assert alice.get(f"/api/campaigns/{campaign['id']}").json()["scrapingJobs"] == []


def test_bad_campaign_input(app: App) -> None:
    alice = app.user("alice@example.com")
    for body in ({"name": ""}, {"name": "   "}, {"name": "x" * 201}):
        response = alice.post("/api/campaigns", json=body)
        assert response.status_code == 400, body
    assert alice.post("/api/campaigns", json={}).json() == {"error": "name is required"}
    assert alice.get("/api/campaigns").json() == []


def test_a_user_sees_only_their_own(app: App) -> None:
    alice, bob = app.user("alice@example.com"), app.user("bob@example.com")
    campaign = make_campaign(alice)
    job = alice.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": ["fitness"], "targetResults": 5}).json()
    assert bob.get("/api/campaigns").json() == []
    for method, path in (
        ("GET", f"/api/campaigns/{campaign['id']}"),
        ("GET", f"/api/scraping/tiktok?jobId={job['id']}"),
        ("GET", f"/api/jobs/{job['id']}/results"),
        ("GET", f"/api/jobs/{job['id']}/results?format=csv"),
        ("POST", f"/api/jobs/{job['id']}/cancel"),
    ):
        theirs = bob.request(method, path)
        missing = bob.request(method, path.replace(job["id"], "f" * 36)
                              .replace(str(campaign["id"]), "f" * 36))
        assert theirs.status_code == 404, path
        assert theirs.json() == missing.json(), path
    stolen = bob.post("/api/scraping/tiktok", json={
        "campaignId": campaign["id"], "keywords": ["fitness"], "targetResults": 5})
    assert stolen.status_code == 404
    assert stolen.json() == {"error": "Campaign not found"}


def test_healthz(app: App) -> None:
    response = app.client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
