"""What an outside attack found open, each shut and kept shut: odd input that gave a 5xx, a
creation flood, headers that said too much, files others could read, an open /metrics, a
link that signed a browser in, sessions and streams that outlived their credentials."""

from __future__ import annotations

import contextlib
import socket
import stat
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from scrapetrack.access import Actor
from scrapetrack.config import Settings
from scrapetrack.exceptions import ProviderRejected
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import RunCaps
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.sandbox.state import SandboxLimits
from scrapetrack.service import SearchRequest
from scrapetrack.serving import serve_in_thread
from scrapetrack.store.models import ApiToken, utcnow
from tests.conftest import sign_in_by_link, wait_until
from tests.integration.conftest import App, Listener
from tests.integration.test_cli import run
from tests.integration.test_cli_client import client_env
from tests.integration.test_security import csrf_of


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


# --- sign-in, sessions and streams ---------------------------------------------------------
def signed_in_browser(app: App, email: str) -> tuple[httpx.Client, str]:
    """A browser signed in as `email` through a one-time link, and its CSRF token."""
    client = app.client()
    link = f"/login?code={app.runtime.accounts.login_code(email)}"
    assert sign_in_by_link(client, link).status_code == 303
    return client, csrf_of(client.get("/").text)


def whoami(client: httpx.Client) -> list[str]:
    """The names of the campaigns the client's session sees: whose account it is in."""
    return sorted(c["name"] for c in client.get("/api/campaigns").json())


def test_a_link_never_signs_a_browser_in(app: App) -> None:
    """A page on another site links alice's browser to /login?code=<bob's code>: the link
    only shows a page that asks, so her next campaign stays hers; an API token in a link
    signs no one in, and a forged POST of the code is refused."""
    app.runtime.accounts.create_user("alice@example.com")
    alice, alice_csrf = signed_in_browser(app, "alice@example.com")
    alice.post("/api/campaigns", json={"name": "alice's"},
               headers={"X-CSRF-Token": alice_csrf})
    bob_token = app.runtime.accounts.create_user("bob@example.com").token
    bob_code = app.runtime.accounts.login_code("bob@example.com")
    asked = alice.get("/login", params={"code": bob_code})
    assert asked.status_code == 200 and "Sign in as bob@example.com" in asked.text
    assert whoami(alice) == ["alice's"]  # still alice
    linked = alice.get("/login", params={"code": bob_token})
    assert linked.status_code == 401 and whoami(alice) == ["alice's"]
    forged = app.client().post("/login", data={"code": bob_code})  # no CSRF token
    assert forged.status_code == 403
    # Not spent by any of that: bob's own click signs him in.
    bob = app.client()
    assert sign_in_by_link(bob, f"/login?code={bob_code}").status_code == 303
    assert whoami(bob) == []
    assert whoami(alice) == ["alice's"]


def test_sign_out_revocation_and_removal_end_every_copy_of_a_session(app: App) -> None:
    app.user("alice@example.com")
    alice, csrf = signed_in_browser(app, "alice@example.com")
    copy = app.client()  # the cookie as someone copied it before sign-out
    copy.cookies.update(alice.cookies)
    assert copy.get("/api/campaigns").status_code == 200
    assert alice.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert copy.get("/api/campaigns").status_code == 401
    assert copy.post("/api/campaigns", json={"name": "x"},
                     headers={"X-CSRF-Token": csrf}).status_code == 401
    # Revoking every credential of the user ends a session too.
    again, _ = signed_in_browser(app, "alice@example.com")
    app.runtime.accounts.revoke_all("alice@example.com")
    assert again.get("/api/campaigns").status_code == 401
    # And so does removing the user.
    app.runtime.accounts.create_user("carol@example.com")
    carol, _ = signed_in_browser(app, "carol@example.com")
    assert app.runtime.service.remove_user("carol@example.com") == 0
    # Removal (a command, in another process) is not told to the web process, which
    # remembers a session for CREDENTIAL_CACHE_SECONDS.
    wait_until(lambda: carol.get("/api/campaigns").status_code == 401,
               app.runtime.settings.credential_cache_seconds + 3, "the session to end")
    assert app.runtime.store.user_by_email("carol@example.com") is None


def test_sign_in_codes_expire_after_15_minutes(app: App) -> None:
    code = app.runtime.accounts.login_code()
    [row] = [t for t in app.runtime.accounts.tokens() if t.kind == "login"]
    assert row.expires_at is not None
    lifetime = row.expires_at - row.created_at
    assert timedelta(minutes=15) - timedelta(seconds=5) < lifetime <= timedelta(minutes=15)
    with app.runtime.store.engine.begin() as conn:  # 15 minutes later
        conn.execute(update(ApiToken).where(ApiToken.id == row.id).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    expired = app.client().get("/login", params={"code": code})
    assert expired.status_code == 401
    assert "a code works once, for 15 minutes" in expired.text


def test_revoked_or_removed_credentials_end_their_streams_in_every_process(
        start_app: Callable[..., App]) -> None:
    """Two web processes on one store; streams opened with an API token, with a browser
    session and by another user. Each revocation ends the streams resting on what was
    revoked, in both processes, and no other."""
    one = start_app(STREAM_CREDENTIAL_CHECK_SECONDS=0.2)
    two = start_app(STREAM_CREDENTIAL_CHECK_SECONDS=0.2)
    assert Settings.model_fields["stream_credential_check_seconds"].default <= 20
    mallory_token = one.runtime.accounts.create_user("mallory@example.com").token
    alice_token = one.runtime.accounts.create_user("alice@example.com").token
    mallory_api = one.client(mallory_token)
    campaign = mallory_api.post("/api/campaigns", json={"name": "m"}).json()
    alice_api = one.client(alice_token)
    alice_campaign = alice_api.post("/api/campaigns", json={"name": "a"}).json()
    path = f"/api/campaigns/{campaign['id']}/events"
    by_token = [Listener(app.client(mallory_token), path) for app in (one, two)]
    browser, _ = signed_in_browser(two, "mallory@example.com")
    by_session = Listener(browser, path)
    alices = Listener(two.client(alice_token), f"/api/campaigns/{alice_campaign['id']}/events")

    one.runtime.accounts.revoke(mallory_token[:10])
    for listener in by_token:
        wait_until(listener.ended.is_set, 20, "a revoked token's stream to end")
    assert not by_session.ended.is_set()  # the browser signed in with a code, not the token
    assert not alices.ended.is_set()
    # A job started after the revocation reached none of the ended streams.
    mallory = one.runtime.store.user_by_email("mallory@example.com")
    assert mallory is not None
    job = one.runtime.service.start_search(Actor(mallory.id, mallory.email), SearchRequest(
        "tiktok", campaign["id"], keywords=["yoga"], target_results=500))
    wait_until(lambda: job.id in "".join(by_session.lines), 20, "the session's stream to see it")
    assert all(job.id not in "".join(listener.lines) for listener in by_token)

    two.runtime.service.remove_user("mallory@example.com")
    wait_until(by_session.ended.is_set, 20, "a removed user's session stream to end")
    assert not alices.ended.is_set()
    alice_browser, csrf = signed_in_browser(one, "alice@example.com")
    alice_session = Listener(alice_browser, f"/api/campaigns/{alice_campaign['id']}/events")
    assert alice_browser.post("/logout", data={"csrf_token": csrf}).status_code == 303
    wait_until(alice_session.ended.is_set, 20, "a signed-out session's stream to end")
    assert not alices.ended.is_set()
    one.runtime.accounts.revoke_all("alice@example.com")
    wait_until(alices.ended.is_set, 20, "the last stream to end")


# --- slow and huge request heads -------------------------------------------------------------
def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def answer_of(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_slow_heads_are_dropped_and_huge_ones_refused(start_app: Callable[..., App]) -> None:
    """Slowloris: connections that never finish their request head, one header byte at a
    time, are answered 408 and closed once HTTP_HEAD_TIMEOUT_SECONDS have passed, however
    many there are, while other clients are served; a head over MAX_HEAD_BYTES is 431."""
    app = start_app(HTTP_HEAD_TIMEOUT_SECONDS=1, MAX_HEAD_BYTES=8192)
    assert Settings.model_fields["http_head_timeout_seconds"].default <= 10
    started = time.monotonic()
    slow = [connect(app.url) for _ in range(40)]
    silent = connect(app.url)  # sends nothing at all
    for sock in slow:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")

    def dripping() -> bool:  # a byte per connection each round, as slowloris does
        for sock in slow:
            with contextlib.suppress(OSError):
                sock.sendall(b"X")
        return all(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) for sock in slow)

    try:
        assert httpx.get(f"{app.url}/healthz").status_code == 200  # others are served
        wait_until(lambda: _safe(dripping), 30, "every slow connection to be answered")
        # None before its time (the loop's timers may fire a clock tick early).
        assert time.monotonic() - started >= 0.9
        for sock in [*slow, silent]:
            assert answer_of(sock).startswith(b"HTTP/1.1 408 Request Timeout"), sock
    finally:
        for sock in [*slow, silent]:
            sock.close()

    huge = connect(app.url)
    huge.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fill: " + b"a" * 9000 + b"\r\n\r\n")
    assert answer_of(huge).startswith(b"HTTP/1.1 431 ")
    huge.close()
    fine = httpx.get(f"{app.url}/healthz", headers={"X-Fill": "a" * 4000})
    assert fine.status_code == 200


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except BlockingIOError:  # nothing to read yet
        return False


# --- the embedded sandbox --------------------------------------------------------------------
TIKTOK_RUNS = "/sandbox/v2/acts/apidojo~tiktok-scraper/runs"


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_the_embedded_sandbox_needs_the_apps_token_and_has_limits(
        start_app: Callable[..., App]) -> None:
    """In sandbox mode the app mounts the sandbox at /sandbox: a stranger gets 401; the
    token the app itself sends (derived from SECRET_KEY) works; a run writes at most
    MAX_TARGET_RESULTS items, whatever it asks."""
    app = start_app(apify_api_url=None, apify_token=None, MAX_TARGET_RESULTS=500)
    token = app.runtime.settings.with_secret_key().sandbox_token()
    assert token
    run_input = {"keywords": ["yoga"], "maxItems": 1_000_000}
    stranger = httpx.post(f"{app.url}{TIKTOK_RUNS}", json=run_input)
    assert stranger.status_code == 401, stranger.text
    assert stranger.json()["error"]["type"] == "token-not-provided"
    wrong = httpx.post(f"{app.url}{TIKTOK_RUNS}", json=run_input,
                       headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401
    started = httpx.post(f"{app.url}{TIKTOK_RUNS}", json=run_input, params={
        "maxItems": 1_000_000}, headers={"Authorization": f"Bearer {token}"})
    assert started.status_code == 201, started.text
    assert started.json()["data"]["options"]["maxItems"] == 500
    # apify-client with that token, as the app's worker sends it, is let in.
    provider = ApifyProvider(token, f"{app.url}/sandbox", max_retries=0)
    run = provider.start("apidojo~tiktok-scraper", {"keywords": ["yoga"]}, RunCaps(5))
    assert provider.get_run(run.run_id).run_id == run.run_id
    with pytest.raises(ProviderRejected):
        ApifyProvider(None, f"{app.url}/sandbox", max_retries=0).start(
            "apidojo~tiktok-scraper", {"keywords": ["yoga"]})

class MadeOn:
    """A run's item factory that notes which thread makes each item."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.threads: set[str] = set()

    def item(self, index: int) -> dict[str, Any]:
        self.threads.add(threading.current_thread().name)
        return dict(self.factory.item(index))


def test_a_sandbox_holds_runs_and_items_within_its_limits() -> None:
    """At most max_live_runs going at once (then 402, as Apify answers an account at its
    limit), finished runs forgotten after forget_after_seconds, and items made on a
    thread, never on the event loop that answers everyone."""
    now = [0.0]
    app = create_sandbox_app(items_per_second=10.0, start_delay_seconds=0.0,
                             clock=lambda: now[0], token="t0ken",
                             limits=SandboxLimits(max_run_items=100, max_live_runs=2,
                                                  forget_after_seconds=60))
    state = app.state.sandbox  # type: ignore[attr-defined]
    with serve_in_thread(app, lifespan=False) as url:
        client = httpx.Client(base_url=url, headers={"Authorization": "Bearer t0ken"})
        path = "/v2/acts/apidojo~tiktok-scraper/runs"
        first, second = (client.post(path, json={"keywords": [k], "maxItems": 50}).json()
                         ["data"] for k in ("yoga", "hiit"))
        third = client.post(path, json={"keywords": ["pilates"], "maxItems": 50})
        assert third.status_code == 402
        assert third.json()["error"]["type"] == "actor-memory-limit-exceeded"
        now[0] = 10.0  # every run has written its 50 items and finished
        made = MadeOn(state.run(first["id"]).factory)
        state.run(first["id"]).factory = made
        items = client.get(f"/v2/datasets/{first['defaultDatasetId']}/items")
        assert len(items.json()) == 50
        assert made.threads and not any(name.startswith("uvicorn-") for name in made.threads)
        assert client.post(path, json={"keywords": ["pilates"]}).status_code == 201
        now[0] = 100.0  # more than a minute after they finished
        assert client.post(path, json={"keywords": ["barre"]}).status_code == 201
        assert client.get(f"/v2/actor-runs/{first['id']}").status_code == 404
        assert client.get(f"/v2/datasets/{second['defaultDatasetId']}").status_code == 404
        assert len(state.runs) == 1 and state.runs_started == 4
        client.close()
