"""Accounts, sessions, CSRF, headers, body limits and per-user limits, over real HTTP."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import pytest
import redis.asyncio as aioredis

from scrapetrack.events.slots import RedisSlots
from scrapetrack.store.models import ScrapingJob
from tests.conftest import HeldSandbox, Stack, run_async, sign_in_by_link, until, wait_until
from tests.integration.conftest import App

SESSION = "scrapetrack_session"


def browser(app: App, api_token: str | None = None) -> tuple[httpx.Client, str]:
    """A cookie-carrying client signed in through a sign-in link (or with an API token
    pasted in the form), and its CSRF token."""
    client = app.client()
    if api_token is None:
        signed = sign_in_by_link(client, f"/login?code={app.runtime.accounts.login_code()}")
    else:
        signed = client.post("/login", data={"token": api_token,
                                             "csrf_token": csrf_of(client.get("/login").text)})
    assert signed.status_code == 303 and signed.headers["location"] == "/", signed.text
    return client, csrf_of(client.get("/").text)


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, html
    return match.group(1)


def campaign(client: httpx.Client, **headers: str) -> httpx.Response:
    return client.post("/api/campaigns", json={"name": "c"}, headers=headers)


# --- sessions and CSRF -----------------------------------------------------------------------
def test_the_session_cookie_is_signed_httponly_and_lax(app: App) -> None:
    client = app.client()
    answer = sign_in_by_link(client, f"/login?code={app.runtime.accounts.login_code()}")
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=lax" in flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    # Signed: a cookie forged or altered by the client is ignored.
    value = client.cookies[SESSION]
    forged = app.client()
    forged.cookies.set(SESSION, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert forged.get("/api/campaigns").status_code == 401
    assert client.get("/api/campaigns").status_code == 200


def test_the_session_cookie_is_secure_behind_https(app: App) -> None:
    """uvicorn believes X-Forwarded-Proto from a trusted proxy (FORWARDED_ALLOW_IPS, here
    127.0.0.1): the request is https, and so the cookie is Secure."""
    answer = app.client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert answer.status_code == 200  # the session that carries the form's CSRF token
    flags = {p.strip().lower() for p in answer.headers["set-cookie"].split(";")[1:]}
    assert {"secure", "httponly", "samesite=lax"} <= flags


def test_public_url_https_makes_cookies_secure(start_app: Callable[..., App]) -> None:
    app = start_app(public_url="https://scrapetrack.example.com")
    answer = app.client().get("/login")
    assert "secure" in answer.headers["set-cookie"].lower()


def test_cookie_requests_need_the_csrf_token_bearer_ones_do_not(app: App) -> None:
    client, token = browser(app)
    refused = campaign(client)
    assert refused.status_code == 403
    assert refused.json() == {"error": "The form has expired or did not come from this site; "
                                       "reload the page and try again"}
    assert campaign(client, **{"X-CSRF-Token": "not-it"}).status_code == 403
    assert campaign(client, **{"X-CSRF-Token": token}).status_code == 201
    assert client.get("/api/campaigns").status_code == 200  # safe methods need none
    assert [c["name"] for c in client.get("/api/campaigns").json()] == ["c"]
    api = app.user("script@example.com")  # Bearer: a browser never sends it by itself
    assert campaign(api).status_code == 201
    # A token from another session does not do.
    other, other_token = browser(app)
    assert campaign(client, **{"X-CSRF-Token": other_token}).status_code == 403
    assert campaign(other, **{"X-CSRF-Token": other_token}).status_code == 201


def test_forms_need_the_csrf_token(app: App) -> None:
    client, token = browser(app)
    form = client.post("/campaigns", data={"name": "forged"})
    assert form.status_code == 403
    assert "did not come from this site" in form.text
    made = client.post("/campaigns", data={"name": "mine", "csrf_token": token})
    assert made.status_code == 303
    assert [c["name"] for c in client.get("/api/campaigns").json()] == ["mine"]
    # Logout too: a forged one would not sign anyone out.
    assert client.post("/logout").status_code == 403
    assert client.get("/api/campaigns").status_code == 200
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/api/campaigns").status_code == 401


def test_the_login_form_needs_its_csrf_token(app: App) -> None:
    api_token = app.runtime.accounts.create_user("eve@example.com").token
    stranger = app.client()  # a cross-site form: no session, so no token
    forged = stranger.post("/login", data={"token": api_token})
    assert forged.status_code == 403
    assert stranger.get("/api/campaigns").status_code == 401
    client = app.client()
    token = csrf_of(client.get("/login").text)
    signed = client.post("/login", data={"token": api_token, "csrf_token": token})
    assert signed.status_code == 303
    assert client.get("/api/campaigns").status_code == 200
    # Signing in starts a fresh session: the token from before is no longer the one.
    assert campaign(client, **{"X-CSRF-Token": token}).status_code == 403


def test_a_login_code_works_once(app: App) -> None:
    code = app.runtime.accounts.login_code()
    link = f"/login?code={code}"
    assert sign_in_by_link(app.client(), link).status_code == 303
    again = app.client().get(link)
    assert again.status_code == 401
    assert "a code works once, for 15 minutes" in again.text


def test_revoking_a_token_locks_out_its_api_calls_and_its_sessions(app: App) -> None:
    created = app.runtime.accounts.create_user("mallory@example.com")
    api = app.client(created.token)
    assert api.get("/api/campaigns").status_code == 200
    client, _ = browser(app, created.token)  # a browser signed in with the same token
    assert client.get("/api/campaigns").status_code == 200
    listed = [t for t in app.runtime.accounts.tokens("mallory@example.com") if t.kind == "api"]
    assert [t.prefix for t in listed] == [created.token[:10]]
    assert listed[0].last_used_at is not None and listed[0].revoked_at is None
    app.runtime.accounts.revoke(created.token[:10])
    assert api.get("/api/campaigns").status_code == 401
    assert client.get("/api/campaigns").status_code == 401
    assert client.get("/").status_code == 303  # the page sends it to sign in again
    fresh = app.client(app.runtime.accounts.new_token("mallory@example.com"))
    assert fresh.get("/api/campaigns").status_code == 200
    app.runtime.accounts.revoke_all("mallory@example.com")
    assert fresh.get("/api/campaigns").status_code == 401


def test_tokens_are_kept_only_as_hashes(app: App) -> None:
    created = app.runtime.accounts.create_user("hash@example.com")
    with app.runtime.store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM api_tokens").fetchall()
    assert rows and all(created.token not in json.dumps([str(v) for v in row]) for row in rows)


# --- headers -----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login", "/", "/api/campaigns", "/healthz", "/nope",
                                  "/static/app.js", "/openapi.json"])
def test_every_answer_carries_the_security_headers(app: App, path: str) -> None:
    answer = app.client().get(path)
    csp = answer.headers["content-security-policy"]
    directives = dict(d.strip().partition(" ")[::2] for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src" if "object-src" in directives else "default-src"] == "'none'"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["x-frame-options"] == "DENY"


def test_the_pages_have_no_inline_script(app: App) -> None:
    client, token = browser(app)
    page_id = campaign(client, **{"X-CSRF-Token": token}).json()["id"]
    for path in ("/login", "/", f"/campaigns/{page_id}", "/docs"):
        html = client.get(path).text
        for tag in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S):
            assert tag.strip() == "" or tag.strip().startswith("{"), (path, tag[:80])
        assert not re.search(r"\son[a-z]+=", html), path  # no event-handler attributes
    docs = client.get("/docs")
    assert "'unsafe-inline'" not in docs.headers["content-security-policy"].split(
        "script-src")[1].split(";")[0]


def test_event_streams_carry_the_headers_too(app: App) -> None:
    alice = app.user("alice@example.com")
    made = alice.post("/api/campaigns", json={"name": "c"}).json()
    with alice.stream("GET", f"/api/campaigns/{made['id']}/events") as response:
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# --- bodies ------------------------------------------------------------------------------------
def test_an_oversized_body_is_refused_with_413_and_nothing_is_made(
        start_app: Callable[..., App]) -> None:
    app = start_app(MAX_BODY_BYTES=2048)
    alice = app.user("alice@example.com")
    big = {"name": "x", "description": "d" * 4096}
    answer = alice.post("/api/campaigns", json=big)
    assert answer.status_code == 413
    assert answer.json() == {"error": "The request body is larger than 2048 bytes"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield json.dumps(big).encode()[:1500]
        yield json.dumps(big).encode()[1500:]

    chunked = alice.post("/api/campaigns", content=chunks(),
                         headers={"Content-Type": "application/json"})
    assert "content-length" not in chunked.request.headers
    assert chunked.status_code == 413
    assert chunked.json()["error"].startswith("The request body is larger")

    def small() -> Iterator[bytes]:
        yield b'{"name": '
        yield b'"chunked"}'

    fine = alice.post("/api/campaigns", content=small(),
                      headers={"Content-Type": "application/json"})
    assert fine.status_code == 201, fine.text
    assert [c["name"] for c in alice.get("/api/campaigns").json()] == ["chunked"]
    form = app.client().post("/login", data={"token": "t" * 5000})
    assert form.status_code == 413


# --- input -------------------------------------------------------------------------------------
def test_text_fields_are_checked(app: App) -> None:
    alice = app.user("alice@example.com")
    made = alice.post("/api/campaigns", json={"name": "  trimmed  ",
                                              "description": "line one\nline two"})
    assert made.status_code == 201 and made.json()["name"] == "trimmed"
    for body in ({"name": "nul\x00"}, {"name": "bell\x07"}, {"name": "rtl\u202eevil"},
                 {"name": "two\nlines"}, {"name": "ok", "description": "nul\x00"},
                 {"name": "ok", "description": "d" * 2001}, {"name": 5}, {"name": None}):
        answer = alice.post("/api/campaigns", json=body)
        assert answer.status_code in (400, 422), body
        assert isinstance(answer.json()["error"], str)
    surrogate = alice.post("/api/campaigns", content=b'{"name": "\\ud800"}',
                           headers={"Content-Type": "application/json"})
    assert surrogate.status_code == 400
    campaign_id = made.json()["id"]
    for keywords in (["nul\x00"], ["tab\tkey"], ["\u202eabc"], [" " * 3], ["a" * 101],
                     ["k"] * 21, []):
        answer = alice.post("/api/scraping/tiktok", json={
            "campaignId": campaign_id, "keywords": keywords, "targetResults": 10})
        assert answer.status_code == 400, keywords
    for handle in ("has space", "", "@", "a" * 101, "<script>", "nul\x00"):
        answer = alice.post("/api/scraping/tiktok", json={
            "campaignId": campaign_id, "targetUsername": handle})
        assert answer.status_code == 400, handle
        assert "targetUsername must be a handle" in answer.json()["error"]
    # Trimmed and deduplicated on the way in.
    job = alice.post("/api/scraping/tiktok", json={
        "campaignId": campaign_id, "keywords": ["  yoga ", "yoga", "hiit"], "targetResults": 3})
    assert job.status_code == 202
    assert job.json()["keywords"] == ["yoga", "hiit"]
    assert len(alice.get(f"/api/campaigns/{campaign_id}").json()["scrapingJobs"]) == 1


def test_the_target_cap_is_configurable(start_app: Callable[..., App]) -> None:
    app = start_app(MAX_TARGET_RESULTS=50)
    alice = app.user("alice@example.com")
    campaign_id = alice.post("/api/campaigns", json={"name": "c"}).json()["id"]
    over = alice.post("/api/scraping/tiktok", json={
        "campaignId": campaign_id, "keywords": ["k"], "targetResults": 51})
    assert over.status_code == 400
    assert over.json() == {"error": "targetResults must be a whole number from 1 to 50"}


def test_an_unknown_platform_is_404_whatever_the_body(app: App) -> None:
    alice = app.user("alice@example.com")
    for body in ({}, {"campaignId": 5}, {"keywords": "x"}):
        answer = alice.post("/api/scraping/myspace", json=body)
        assert answer.status_code == 404
        assert answer.json() == {"error": "Unknown platform"}


# --- abuse -------------------------------------------------------------------------------------
def start_jobs(client: httpx.Client, count: int, target: int = 5000) -> list[httpx.Response]:
    campaign_id = client.post("/api/campaigns", json={"name": "c"}).json()["id"]
    return [client.post("/api/scraping/tiktok", json={
        "campaignId": campaign_id, "keywords": [f"k{i}"], "targetResults": target})
        for i in range(count)]


def test_job_creation_is_rate_limited_per_user(start_app: Callable[..., App]) -> None:
    app = start_app(JOB_RATE_LIMIT_PER_MINUTE=3, MAX_ACTIVE_JOBS_PER_USER=0)
    alice, bob = app.user("alice@example.com"), app.user("bob@example.com")
    answers = start_jobs(alice, 4, target=5)
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    limited = answers[-1]
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.json() == {"error": f"You can start 3 searches a minute; try again in "
                                       f"{limited.headers['retry-after']} s"}
    assert len(app.runtime.store.campaign_jobs(answers[0].json()["campaignId"])) == 3
    assert [a.status_code for a in start_jobs(bob, 1, target=5)] == [202]  # per user


def test_the_window_slides(start_app: Callable[..., App]) -> None:
    app = start_app(JOB_RATE_LIMIT_PER_MINUTE=2, MAX_ACTIVE_JOBS_PER_USER=0)
    alice = app.user("alice@example.com")
    first = start_jobs(alice, 2, target=5)
    assert [a.status_code for a in first] == [202, 202]
    # Age the jobs by 50 s in the store: ten seconds before the window frees a slot, far
    # more than the requests can take on a busy machine.
    with app.runtime.store.writing() as s:
        for row in s.query(ScrapingJob).all():
            row.created_at = row.created_at - timedelta(seconds=50)
    limited = start_jobs(alice, 1, target=5)[0]
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 10
    with app.runtime.store.writing() as s:
        for row in s.query(ScrapingJob).all():
            row.created_at = row.created_at - timedelta(seconds=15)
    assert start_jobs(alice, 1, target=5)[0].status_code == 202


def test_concurrent_jobs_are_capped_per_user_across_processes_sharing_the_store(
        held_sandbox: HeldSandbox, start_app: Callable[..., App]) -> None:
    """Two web apps on one store: the cap counts in the store, under the user's row lock.
    The held sandbox keeps every job running until the test ends one."""
    one = start_app(MAX_ACTIVE_JOBS_PER_USER=3, JOB_RATE_LIMIT_PER_MINUTE=0,
                    apify_api_url=held_sandbox.url)
    two = start_app(MAX_ACTIVE_JOBS_PER_USER=3, JOB_RATE_LIMIT_PER_MINUTE=0,
                    apify_api_url=held_sandbox.url)
    token = one.runtime.accounts.create_user("alice@example.com").token
    a, b = one.client(token), two.client(token)
    campaign_id = a.post("/api/campaigns", json={"name": "c"}).json()["id"]
    results: list[int] = []

    def post(client: httpx.Client, index: int) -> None:
        results.append(client.post("/api/scraping/tiktok", json={
            "campaignId": campaign_id, "keywords": [f"k{index}"],
            "targetResults": 5000}).status_code)

    threads = [threading.Thread(target=post, args=(a if i % 2 else b, i)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [202] * 3 + [429] * 5
    refused = a.post("/api/scraping/tiktok", json={
        "campaignId": campaign_id, "keywords": ["more"], "targetResults": 5})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"
    assert "searches running" in refused.json()["error"]
    jobs = a.get(f"/api/campaigns/{campaign_id}").json()["scrapingJobs"]
    assert len(jobs) == 3
    # Ending one frees a place.
    assert a.post(f"/api/jobs/{jobs[0]['id']}/cancel").status_code == 202
    again = a.post("/api/scraping/tiktok", json={
        "campaignId": campaign_id, "keywords": ["more"], "targetResults": 5})
    assert again.status_code == 202
    for job in a.get(f"/api/campaigns/{campaign_id}").json()["scrapingJobs"]:
        a.post(f"/api/jobs/{job['id']}/cancel")


def test_event_streams_are_capped_per_user(start_app: Callable[..., App]) -> None:
    app = start_app(MAX_STREAMS_PER_USER=2)
    alice, bob = app.user("alice@example.com"), app.user("bob@example.com")
    campaign_id = alice.post("/api/campaigns", json={"name": "c"}).json()["id"]
    bobs = bob.post("/api/campaigns", json={"name": "b"}).json()["id"]
    opened = []
    try:
        for _ in range(2):
            stream = alice.stream("GET", f"/api/campaigns/{campaign_id}/events")
            opened.append(stream)
            assert stream.__enter__().status_code == 200
        third = alice.get(f"/api/campaigns/{campaign_id}/events")
        assert third.status_code == 429
        assert third.headers["retry-after"] == "5"
        assert third.json()["error"].startswith("You have 2 live updates open")
        with bob.stream("GET", f"/api/campaigns/{bobs}/events") as other:
            assert other.status_code == 200  # per user
    finally:
        for stream in opened:
            stream.__exit__(None, None, None)

    def reopened() -> bool:  # the server notices the clients left, and frees their places
        with alice.stream("GET", f"/api/campaigns/{campaign_id}/events") as again:
            return again.status_code == 200

    wait_until(reopened, 10, "a stream place to free up")


def test_the_stream_cap_spans_web_processes_when_redis_is_set(
        start_app: Callable[..., App], stack: Stack) -> None:
    """With REDIS_URL the cap counts in Redis, across processes; without, per process."""
    one, two = start_app(MAX_STREAMS_PER_USER=2), start_app(MAX_STREAMS_PER_USER=2)
    token = one.runtime.accounts.create_user("alice@example.com").token
    a, b = one.client(token), two.client(token)
    campaign_id = a.post("/api/campaigns", json={"name": "c"}).json()["id"]
    path = f"/api/campaigns/{campaign_id}/events"
    with a.stream("GET", path) as first, b.stream("GET", path) as second:
        assert (first.status_code, second.status_code) == (200, 200)
        third = b.get(path) if stack.redis_url else None
        if third is not None:
            assert third.status_code == 429
            assert third.headers["retry-after"] == "5"
        else:
            with b.stream("GET", path) as per_process:  # two on this process: still allowed
                assert per_process.status_code == 200
                assert b.get(path).status_code == 429


def test_streams_of_a_dead_process_lapse(redis_url: str) -> None:
    """A process that dies never gives its places back, nor renews them: they lapse."""
    async def scenario() -> tuple[str | None, str | None, str | None]:
        # A ttl far longer than a busy machine's pause between the two takes.
        dead = RedisSlots(1, redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}", ttl=3)
        alive = RedisSlots(1, redis_url, prefix=dead.prefix, ttl=3)
        held = await dead.take("alice")
        dead.held.clear()  # as if the process had died: nothing left to renew
        refused = await alive.take("alice")
        later = await until(lambda: alive.take("alice"), within=20,
                            what="the dead process's place to lapse")
        await dead.close()
        await alive.close()
        return held, refused, later

    held, refused, later = run_async(scenario)
    assert held and refused is None and later


def test_open_streams_are_renewed_while_they_last(redis_url: str) -> None:
    async def scenario() -> tuple[str | None, str | None]:
        # Renewals come every ttl / 3: a ttl that a busy machine's pauses cannot outlast.
        slots = RedisSlots(1, redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}", ttl=3)
        other = RedisSlots(1, redis_url, prefix=slots.prefix, ttl=3)
        held = await slots.take("alice")
        # Until Redis's clock is a whole ttl past the place's first lapse: only renewals
        # (every ttl / 3) can have kept it.
        probe = aioredis.Redis.from_url(redis_url)
        ((_, first_lapse),) = await probe.zrange(f"{slots.prefix}:streams:alice", 0, -1,
                                                 withscores=True)
        async def a_ttl_past_the_first_lapse() -> bool:
            seconds, micros = await probe.time()
            return bool(seconds + micros / 1e6 >= first_lapse + slots.ttl)

        await until(a_ttl_past_the_first_lapse, within=30,
                    what="Redis's clock to pass the place's lapse")
        await probe.aclose()
        refused = await other.take("alice")
        assert held is not None
        await slots.give_back("alice", held)
        freed = await other.take("alice")
        await slots.close()
        await other.close()
        return refused, freed

    refused, freed = run_async(scenario)
    assert refused is None and freed
