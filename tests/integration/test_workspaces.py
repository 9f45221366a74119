"""Teams: a role matrix over every route that touches a workspace's things, for its owner,
an admin, a member, a viewer, someone outside it and no credentials; invitations; the audit
trail; tokens limited to one workspace; the migration of campaigns made before workspaces.
On SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from scrapetrack.access import MANAGE, OWN, READ, WORK, Actor, Role, allows
from scrapetrack.config import Settings
from scrapetrack.creators import Creator
from scrapetrack.exceptions import NotFound
from scrapetrack.jobs import Status
from scrapetrack.store.migrate import downgrade, upgrade
from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import Store
from tests.conftest import wait_until
from tests.integration.conftest import App, Listener, new_job

ROLES = ("owner", "admin", "member", "viewer")
WHO = (*ROLES, "outsider", "anonymous")


@dataclass
class World:
    """A workspace with one person of each role, a campaign, an ended search with a creator,
    a search still pending, and one more member for the member routes to act on."""

    app: App
    workspace: str
    clients: dict[str, httpx.Client]
    ids: dict[str, str]  # user ids by role, and "extra"
    campaign: str
    ended: str
    pending: str
    creator: int
    invitation: str


def user(app: App, label: str) -> tuple[str, httpx.Client]:
    made = app.runtime.accounts.create_user(f"{label}-{uuid.uuid4().hex[:8]}@example.com")
    return made.user.id, app.client(made.token)


def world(app: App) -> World:
    ids, clients = {}, {}
    for label in (*ROLES, "outsider", "extra"):
        ids[label], clients[label] = user(app, label)
    clients["anonymous"] = app.client()
    made = clients["owner"].post("/api/workspaces", json={"name": "Acme marketing"})
    assert made.status_code == 201, made.text
    workspace = made.json()["id"]
    teams = app.runtime.teams
    for label, role in (("admin", "admin"), ("member", "member"), ("viewer", "viewer"),
                        ("extra", "member")):
        email = app.runtime.store.user_by_id(ids[label]).email  # type: ignore[union-attr]
        teams.set_member(None, workspace, email, role)
    campaign = clients["owner"].post("/api/campaigns", json={
        "name": "Spring", "workspaceId": workspace}).json()["id"]
    store = app.runtime.store
    ended = store.create_job(campaign_id=campaign, user_id=ids["member"], platform="tiktok",
                             keywords=["yoga"], target_results=5)
    assert store.claim(ended.id, "w", utcnow(), utcnow()) is not None
    store.ingest(ended.id, "w", from_offset=0, to_offset=1, creators=[
        Creator("tiktok", "mia", followers=100)], skipped=0, progress=100,
                 rate_per_second=None)
    store.finish(ended.id, Status.COMPLETED, progress=100)
    pending = store.create_job(campaign_id=campaign, user_id=ids["member"], platform="tiktok",
                               keywords=["pilates"], target_results=5000)
    listed = clients["owner"].get(f"/api/campaigns/{campaign}/creators").json()["items"]
    invited = teams.invite(None, workspace, "someone@example.com", "viewer")
    return World(app, workspace, clients, ids, campaign, ended.id, pending.id, listed[0]["id"],
                 invited.invitation.id)


# (method, path, body, the least role it needs, whether it destroys what the next check needs)
Route = tuple[str, str, dict[str, Any] | None, Role, bool]


def routes(w: World) -> list[Route]:
    c, j, p, ws = w.campaign, w.ended, w.pending, w.workspace
    extra = w.ids["extra"]
    return [
        ("GET", f"/api/campaigns/{c}", None, READ, False),
        ("GET", "/api/jobs?workspaceId=" + ws, None, READ, False),
        ("GET", f"/api/campaigns/{c}/events", None, READ, False),
        ("GET", f"/api/jobs/{p}/events", None, READ, False),
        ("GET", f"/api/scraping/tiktok?jobId={j}", None, READ, False),
        ("GET", f"/api/jobs/{j}", None, READ, False),
        ("GET", f"/api/jobs/{j}/results", None, READ, False),
        ("GET", f"/api/jobs/{j}/results?format=csv", None, READ, False),
        ("GET", f"/api/campaigns/{c}/creators", None, READ, False),
        ("GET", f"/api/campaigns/{c}/creators/export?format=xlsx", None, READ, False),
        ("GET", f"/campaigns/{c}", None, READ, False),
        ("GET", f"/searches/{j}", None, READ, False),
        ("GET", f"/api/workspaces/{ws}", None, READ, False),
        ("GET", f"/api/workspaces/{ws}/members", None, READ, False),
        ("GET", f"/workspaces/{ws}", None, READ, False),
        ("POST", "/api/campaigns", {"name": "Autumn", "workspaceId": ws}, WORK, False),
        ("POST", "/api/scraping/tiktok", {"campaignId": c, "keywords": ["yoga"],
                                          "targetResults": 5}, WORK, False),
        ("POST", f"/api/jobs/{j}/rerun", None, WORK, False),
        ("PATCH", f"/api/campaigns/{c}/creators/{w.creator}", {"status": "shortlisted"},
         WORK, False),
        ("POST", f"/api/campaigns/{c}/creators/bulk", {"ids": [w.creator],
                                                       "addTags": ["spring"]}, WORK, False),
        ("POST", f"/api/jobs/{p}/cancel", None, WORK, False),
        ("DELETE", f"/api/jobs/{j}", None, WORK, True),
        ("PUT", f"/api/workspaces/{ws}/members/{extra}", {"role": "member"}, MANAGE, False),
        ("POST", f"/api/workspaces/{ws}/invitations", {"email": "new@example.com",
                                                       "role": "viewer"}, MANAGE, False),
        ("GET", f"/api/workspaces/{ws}/invitations", None, MANAGE, False),
        ("GET", f"/api/workspaces/{ws}/audit", None, MANAGE, False),
        ("DELETE", f"/api/workspaces/{ws}/invitations/{w.invitation}", None, MANAGE, True),
        ("DELETE", f"/api/workspaces/{ws}/members/{extra}", None, MANAGE, True),
        ("DELETE", f"/api/campaigns/{c}", None, MANAGE, True),
        ("POST", f"/api/workspaces/{ws}/transfer", {"userId": extra}, OWN, True),
        ("DELETE", f"/api/workspaces/{ws}", None, OWN, True),
    ]


def call(client: httpx.Client, method: str, path: str,
         body: dict[str, Any] | None) -> tuple[int, httpx.Headers, bytes]:
    """The answer's status, headers and first bytes (an event stream is not read on)."""
    with client.stream(method, path, json=body) as answer:
        first = b"" if answer.headers.get("content-type", "").startswith(
            "text/event-stream") else answer.read()
        return answer.status_code, answer.headers, first


def expected(who: str, least: Role, page: bool) -> str:
    if who == "anonymous":
        return "redirect" if page else "401"
    if who == "outsider":
        return "404"
    return "allowed" if allows(who, least) else "403"


def outcome(status: int, headers: httpx.Headers) -> str:
    if status in (401, 403, 404):
        return str(status)
    if status == 303 and headers.get("location") == "/login":
        return "redirect"
    assert status < 500, status
    return "allowed"


def test_every_role_gets_exactly_what_it_may(app: App) -> None:
    base = world(app)
    assert len(routes(base)) >= 25
    for who in WHO:
        for index, (method, path, body, least, destroys) in enumerate(routes(base)):
            w = world(app) if destroys and expected(who, least, False) == "allowed" else base
            method, path, body, _, _ = routes(w)[index]
            status, headers, text = call(w.clients[who], method, path, body)
            want = expected(who, least, not path.startswith("/api"))
            assert outcome(status, headers) == want, (who, method, path, status, text[:200])
            if want in ("403", "404", "401") and path.startswith("/api"):
                assert re.fullmatch(rb'\{"error":".+"\}', text), text
    # What the refused asked for did not happen: the base world's things all stand.
    owner = base.clients["owner"]
    assert owner.get(f"/api/campaigns/{base.campaign}").status_code == 200
    assert owner.get(f"/api/jobs/{base.ended}").status_code == 200
    members = {m["userId"]: m["role"] for m in
               owner.get(f"/api/workspaces/{base.workspace}/members").json()}
    assert members[base.ids["viewer"]] == "viewer" and members[base.ids["extra"]] == "member"
    assert members[base.ids["owner"]] == "owner"


def test_a_viewer_reads_follows_and_exports_but_changes_nothing(app: App) -> None:
    w = world(app)
    viewer = w.clients["viewer"]
    assert viewer.get(f"/api/jobs/{w.ended}/results").json()[0]["handle"] == "mia"
    refused = viewer.post("/api/scraping/tiktok", json={
        "campaignId": w.campaign, "keywords": ["yoga"], "targetResults": 5})
    assert refused.status_code == 403
    assert "viewer" in refused.json()["error"]
    assert [c["status"] for c in viewer.get(
        f"/api/campaigns/{w.campaign}/creators").json()["items"]] == ["new"]


def test_a_removed_member_loses_access_on_the_next_request(app: App) -> None:
    w = world(app)
    member = w.clients["member"]
    assert member.get(f"/api/campaigns/{w.campaign}").status_code == 200
    removed = w.clients["admin"].delete(f"/api/workspaces/{w.workspace}/members/"
                                        f"{w.ids['member']}")
    assert removed.status_code == 204
    assert member.get(f"/api/campaigns/{w.campaign}").status_code == 404
    assert member.get(f"/api/scraping/tiktok?jobId={w.ended}").status_code == 404
    assert w.workspace not in [x["id"] for x in member.get("/api/workspaces").json()]
    # A lowered role is in force at once too.
    w.clients["admin"].put(f"/api/workspaces/{w.workspace}/members/{w.ids['extra']}",
                           json={"role": "viewer"})
    assert w.clients["extra"].post(f"/api/jobs/{w.pending}/cancel").status_code == 403


def test_the_owner_cannot_be_removed_or_demoted_and_hands_ownership_over(app: App) -> None:
    w = world(app)
    admin, owner = w.clients["admin"], w.clients["owner"]
    path = f"/api/workspaces/{w.workspace}/members/{w.ids['owner']}"
    assert admin.delete(path).status_code == 403
    assert admin.put(path, json={"role": "viewer"}).status_code == 403
    assert owner.delete(path).status_code == 403  # hands over first
    handed = owner.post(f"/api/workspaces/{w.workspace}/transfer",
                        json={"userId": w.ids["admin"]})
    assert handed.status_code == 204
    roles = {m["userId"]: m["role"] for m in
             owner.get(f"/api/workspaces/{w.workspace}/members").json()}
    assert (roles[w.ids["admin"]], roles[w.ids["owner"]]) == ("owner", "admin")
    personal = owner.get("/api/workspaces").json()[0]
    assert personal["personal"] and personal["role"] == "owner"
    assert owner.delete(f"/api/workspaces/{personal['id']}").status_code == 409


def test_an_invitation_joins_once_with_its_role(app: App) -> None:
    w = world(app)
    admin = w.clients["admin"]
    made = admin.post(f"/api/workspaces/{w.workspace}/invitations",
                      json={"email": "Sam@Example.com", "role": "viewer"})
    assert made.status_code == 201, made.text
    link = made.json()["link"]
    code = link.rsplit("/", 1)[1]
    assert link.startswith(str(app.url)) and len(code) >= 30
    def pending() -> list[tuple[str, str, str | None]]:
        return sorted((i["email"], i["role"], i["link"]) for i in admin.get(
            f"/api/workspaces/{w.workspace}/invitations").json())

    assert pending() == [("sam@example.com", "viewer", None),
                         ("someone@example.com", "viewer", None)]
    sam_id, sam = user(app, "sam")
    joined = sam.post(f"/api/invitations/{code}/accept")
    assert joined.status_code == 200, joined.text
    assert (joined.json()["workspace"]["id"], joined.json()["workspace"]["role"]) == (
        w.workspace, "viewer")
    assert sam.get(f"/api/campaigns/{w.campaign}").status_code == 200
    assert w.clients["outsider"].post(f"/api/invitations/{code}/accept").status_code == 404
    assert pending() == [("someone@example.com", "viewer", None)]
    # A revoked one is refused like a spent one.
    again = admin.post(f"/api/workspaces/{w.workspace}/invitations",
                       json={"email": "kim@example.com", "role": "member"}).json()
    assert admin.delete(f"/api/workspaces/{w.workspace}/invitations/"
                        f"{again['id']}").status_code == 204
    refused = w.clients["outsider"].post(f"/api/invitations/{again['link'].rsplit('/', 1)[1]}"
                                         "/accept")
    assert refused.status_code == 404 and "invitation" in refused.json()["error"]
    assert sam_id in {m["userId"] for m in
                      admin.get(f"/api/workspaces/{w.workspace}/members").json()}


def test_a_new_person_joins_through_the_link_in_a_browser(app: App) -> None:
    w = world(app)
    made = w.clients["admin"].post(f"/api/workspaces/{w.workspace}/invitations",
                                   json={"email": "ana@example.com", "role": "member"}).json()
    browser = httpx.Client(base_url=app.url)
    try:
        page = browser.get(f"/invitations/{made['link'].rsplit('/', 1)[1]}")
        assert page.status_code == 200 and "ana@example.com" in page.text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert token is not None
        forged = browser.post(page.url.path, data={"csrf_token": "wrong"})
        assert forged.status_code == 403
        assert app.runtime.store.user_by_email("ana@example.com") is None
        joined = browser.post(page.url.path, data={"csrf_token": token.group(1)})
        assert joined.status_code == 303 and joined.headers["location"] == \
            f"/?workspace={w.workspace}"
        home = browser.get(joined.headers["location"])
        assert "ana@example.com" in home.text and "Spring" in home.text
    finally:
        browser.close()


def test_the_audit_trail_says_who_did_what(app: App) -> None:
    w = world(app)
    member, admin = w.clients["member"], w.clients["admin"]
    started = member.post("/api/scraping/tiktok", json={
        "campaignId": w.campaign, "keywords": ["yoga"], "targetResults": 5}).json()
    member.post(f"/api/jobs/{started['id']}/cancel")
    member.get(f"/api/jobs/{w.ended}/results?format=csv")
    member.delete(f"/api/jobs/{w.ended}")
    admin.post(f"/api/workspaces/{w.workspace}/invitations",
               json={"email": "lee@example.com", "role": "viewer"})
    path = f"/api/workspaces/{w.workspace}/audit"
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = admin.get(path, params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    assert [e["id"] for e in seen] == sorted((e["id"] for e in seen), reverse=True)
    actions = [(e["action"], e["actor"], e["target"]) for e in reversed(seen)]
    member_email = app.runtime.store.user_by_id(w.ids["member"]).email  # type: ignore[union-attr]
    admin_email = app.runtime.store.user_by_id(w.ids["admin"]).email  # type: ignore[union-attr]
    for entry in [("search.started", member_email, started["id"]),
                  ("search.cancelled", member_email, started["id"]),
                  ("export", member_email, w.ended),
                  ("search.deleted", member_email, w.ended),
                  ("invitation.sent", admin_email, "lee@example.com")]:
        assert entry in actions, (entry, actions)
    assert actions[0][0] == "workspace.created"
    assert [a for a, _, _ in actions].count("member.added") == 4
    # Nothing edits it.
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        assert admin.request(method, path).status_code == 405
    assert member.get(path).status_code == 403


def test_a_token_limited_to_a_workspace_acts_there_only(app: App) -> None:
    w = world(app)
    email = app.runtime.store.user_by_id(w.ids["member"]).email  # type: ignore[union-attr]
    scoped = app.client(app.runtime.accounts.new_token(email, w.workspace))
    assert [x["id"] for x in scoped.get("/api/workspaces").json()] == [w.workspace]
    assert scoped.get(f"/api/campaigns/{w.campaign}").status_code == 200
    mine = w.clients["member"].post("/api/campaigns", json={"name": "Mine"}).json()
    assert mine["workspaceId"] == w.ids["member"]  # the personal workspace
    assert scoped.get(f"/api/campaigns/{mine['id']}").status_code == 404
    made = scoped.post("/api/campaigns", json={"name": "Automated"}).json()
    assert made["workspaceId"] == w.workspace  # the token's workspace by default
    assert scoped.post("/api/workspaces", json={"name": "x"}).status_code == 403
    with pytest.raises(NotFound, match="not a member"):
        app.runtime.accounts.new_token(email, w.ids["owner"])


def test_revision_0010_puts_earlier_campaigns_in_their_owners_workspace(store: Store) -> None:
    first = new_job(store)
    second = new_job(store)
    downgrade(store.engine, "0009")
    upgrade(store.engine)
    for job in (first, second):
        assert job.user_id is not None
        owner = Actor(job.user_id, "owner@example.com")
        found = store.get_campaign(owner, job.campaign_id)
        assert found is not None and found[1] == "owner"
        assert found[0].workspace_id == job.user_id
        assert store.job_state(job.id, owner) is not None
    stranger = Actor(second.user_id or "", "x@example.com")
    assert store.get_campaign(stranger, first.campaign_id) is None


def test_removal_ends_the_members_streams_in_every_web_process(
        start_app: Callable[..., App]) -> None:
    """Two web processes on one store (PostgreSQL + Redis, or SQLite): a member's streams of
    the workspace end in both once they are removed; their other streams, and the other
    members', go on."""
    one = start_app(STREAM_CREDENTIAL_CHECK_SECONDS=0.2)
    two = start_app(STREAM_CREDENTIAL_CHECK_SECONDS=0.2)
    assert Settings.model_fields["stream_credential_check_seconds"].default <= 20
    w = world(one)

    def token(who: str) -> str:
        return w.clients[who].headers["authorization"].split()[1]

    on_one, on_two = one.client(token("member")), two.client(token("member"))
    own = on_one.post("/api/campaigns", json={"name": "Mine"}).json()["id"]
    shared = f"/api/campaigns/{w.campaign}/events"
    removed = [Listener(on_one, shared), Listener(on_two, shared),
               Listener(on_two, f"/api/jobs/{w.pending}/events")]
    kept = [Listener(on_two, f"/api/campaigns/{own}/events"),
            Listener(two.client(token("viewer")), shared)]
    answer = w.clients["admin"].delete(f"/api/workspaces/{w.workspace}/members/"
                                       f"{w.ids['member']}")
    assert answer.status_code == 204
    for listener in removed:
        wait_until(listener.ended.is_set, 20, "a removed member's stream to end")
    assert not any(listener.ended.is_set() for listener in kept)
