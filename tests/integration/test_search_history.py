"""Search history: GET /api/jobs over all of a user's campaigns, newest first, every filter
checked against the whole history filtered here, and keyset paging that holds while searches
are started."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.conftest import App

pytestmark = pytest.mark.all_stacks


def history(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = client.get("/api/jobs", params={**params, **({"cursor": cursor} if cursor
                                                             else {})})
        assert answer.status_code == 200, answer.text
        found += answer.json()["items"]
        cursor = answer.json()["nextCursor"]
        if cursor is None:
            return found


@pytest.fixture
def searches(app: App) -> tuple[httpx.Client, list[dict[str, Any]]]:
    """Jobs of several platforms, kinds and campaigns, some cancelled; none runs (no
    worker), so the history is what the test made."""
    app.runtime.stop_worker()
    alice = app.user("alice@example.com")
    app.user("bob@example.com").post("/api/campaigns", json={"name": "not alice's"})
    spring, autumn = (alice.post("/api/campaigns", json={"name": n}).json()["id"]
                      for n in ("Spring", "Autumn"))
    made = []
    plan: list[tuple[str, str, dict[str, Any]]] = [
            (spring, "tiktok", {"keywords": ["café yoga"]}),
            (spring, "instagram", {"keywords": ["hiit", "pilates"]}),
            (autumn, "youtube", {"targetUsername": "fitwithmia"}),
            (autumn, "tiktok", {"keywords": ["marathon"]}),
            (spring, "tiktok", {"targetUsername": "coach.maria"})]
    for i, (campaign, platform, body) in enumerate(plan):
        job = alice.post(f"/api/scraping/{platform}", json={
            "campaignId": campaign, "targetResults": 20, **body}).json()
        if i % 2:
            job = alice.post(f"/api/jobs/{job['id']}/cancel").json()
        made.append(job)
    return alice, made


def test_every_filter_matches_the_history_filtered_here(searches: Any) -> None:
    alice, made = searches
    whole = history(alice)
    assert [j["id"] for j in whole] == [j["id"] for j in reversed(made)]  # newest first
    middle = datetime.fromisoformat(made[2]["createdAt"].replace("Z", "+00:00"))
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"status": "cancelled"}, lambda j: j["status"] == "cancelled"),
        ({"platform": "tiktok"}, lambda j: j["platform"] == "tiktok"),
        ({"kind": "similar"}, lambda j: j["kind"] == "similar"),
        ({"campaignId": made[2]["campaignId"]},
         lambda j: j["campaignId"] == made[2]["campaignId"]),
        ({"createdFrom": middle.isoformat()}, lambda j: j["createdAt"] >= made[2]["createdAt"]),
        ({"createdTo": middle.isoformat()}, lambda j: j["createdAt"] < made[2]["createdAt"]),
        ({"createdFrom": (middle + timedelta(days=1)).date().isoformat()}, lambda j: False),
        ({"q": "PILATES"}, lambda j: "pilates" in (j["keywords"] or [])),
        ({"q": "café"}, lambda j: "café yoga" in (j["keywords"] or [])),
        ({"q": "maria"}, lambda j: j["targetUsername"] == "coach.maria"),
        ({"q": "%"}, lambda j: False),
        ({"platform": "tiktok", "kind": "keyword", "status": "pending"},
         lambda j: (j["platform"], j["kind"], j["status"]) == ("tiktok", "keyword", "pending")),
    ]
    for params, wanted in cases:
        got = [j["id"] for j in history(alice, **params)]
        assert got == [j["id"] for j in whole if wanted(j)], params


def test_paging_holds_while_searches_are_started(searches: Any) -> None:
    alice, made = searches
    first = alice.get("/api/jobs", params={"limit": 2}).json()
    extra = alice.post("/api/scraping/tiktok", json={
        "campaignId": made[0]["campaignId"], "keywords": ["new"], "targetResults": 5}).json()
    seen = [j["id"] for j in first["items"]]
    cursor = first["nextCursor"]
    while cursor:
        page = alice.get("/api/jobs", params={"limit": 2, "cursor": cursor}).json()
        seen += [j["id"] for j in page["items"]]
        cursor = page["nextCursor"]
    assert seen == [j["id"] for j in reversed(made)]
    assert history(alice)[0]["id"] == extra["id"]


def test_bad_filters_are_refused_with_a_sentence(searches: Any) -> None:
    alice, _ = searches
    for params, status in (({"kind": "lookalike"}, 400), ({"platform": "myspace"}, 404),
                           ({"status": "done"}, 400), ({"cursor": "bm9wZQ"}, 400),
                           ({"cursor": "WyJub3QgYSB0aW1lIiwiaWQiXQ"}, 400),
                           ({"createdFrom": "yesterday"}, 422), ({"limit": 0}, 422),
                           ({"campaignId": "x" * 100}, 400), ({"q": "a" * 201}, 400)):
        answer = alice.get("/api/jobs", params=params)
        assert answer.status_code == status, (params, answer.text)
        assert set(answer.json()) == {"error"}
