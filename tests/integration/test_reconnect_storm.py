"""Issue 26, reconnect storms: when a web process restarts, every page reconnects its stream
at once. A stream connect whose token or session the process knows reads the store once (the
snapshot, its access check included); one it does not know reads it twice. What the process
remembers still gives way to revocation and expiry, and tokens' last uses are written in one
statement every few seconds and when the process stops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, event

from scrapetrack import token_uses
from scrapetrack.accounts import hash_token
from scrapetrack.config import Settings
from scrapetrack.runtime import build_runtime
from scrapetrack.serving import serve_in_thread
from scrapetrack.store.models import utcnow
from scrapetrack.store.repository import Store
from scrapetrack.web.app import create_app
from tests.conftest import wait_until
from tests.integration.conftest import App, Listener, new_job
from tests.integration.test_security import browser

# Where a connect reads: FastAPI runs a sync route (and require_user, when the process must
# read who is asking) on these threads. What the process reads for itself (the hub, per
# change and not per connect) runs on its event loop or its own reader thread.
REQUEST_THREADS = "AnyIO worker thread"
# The pool's check of a connection before handing it out (PostgreSQL: an empty statement):
# a round trip, but no read.
PINGS = {"SELECT 1", ";"}
# How long past a deadline a busy 2-core machine may take to show it.
SLACK = 3.0


class _Counting(psycopg.Cursor[Any]):
    """A psycopg cursor that tells `seen` about each statement it runs."""

    seen: Callable[[str], None] = staticmethod(lambda sql: None)

    def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        type(self).seen(str(query))
        return super().execute(query, *args, **kwargs)


class Statements:
    """The statements the store runs on the threads that serve requests, counted at the
    driver: the hottest reads run on a raw connection (store/prepared.py), out of sight of
    SQLAlchemy's before_cursor_execute. Installed before any request, so every connection a
    request thread uses reports here."""

    def __init__(self, engine: Engine) -> None:
        self.reads: list[str] = []
        self.pings = 0
        self._on = False
        if engine.dialect.name == "sqlite":
            event.listen(engine, "checkout",
                         lambda dbapi, _record, _proxy: dbapi.set_trace_callback(self._seen))
        else:
            _Counting.seen = staticmethod(self._seen)
            event.listen(engine, "checkout", lambda dbapi, _record, _proxy: setattr(
                dbapi, "cursor_factory", _Counting))

    def _seen(self, sql: str) -> None:
        if not self._on or not threading.current_thread().name.startswith(REQUEST_THREADS):
            return
        first = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
        if first in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA"):
            return
        if sql.strip().upper() in PINGS:
            self.pings += 1
        else:
            self.reads.append(" ".join(sql.split()))

    @contextmanager
    def during(self) -> Iterator[list[str]]:
        self.reads.clear()
        self.pings = 0
        self._on = True
        try:
            yield self.reads
        finally:
            self._on = False


def first_frame(client: httpx.Client, path: str) -> str:
    """The first `data:` line of an event stream, then the client leaves."""
    with client.stream("GET", path, timeout=30) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data:"):
                return line
    raise AssertionError(f"{path} ended without a frame")


def test_a_stream_connect_reads_the_store_once_when_its_credentials_are_known(
        start_app: Callable[..., App]) -> None:
    app = start_app(CREDENTIAL_CACHE_SECONDS=60)  # "known" however slow the machine
    statements = Statements(app.runtime.store.engine)
    made = app.runtime.accounts.create_user("storm@example.com")
    campaign = app.client(made.token).post("/api/campaigns", json={"name": "c"}).json()
    job = new_job(app.runtime.store, campaign["id"], made.user.id)
    paths = [f"/api/jobs/{job.id}/events", f"/api/campaigns/{campaign['id']}/events"]
    session, _ = browser(app, made.token)
    for how, client in (("token", app.client(made.token)), ("session", session)):
        app.runtime.accounts.cache.clear()  # as after a restart: two reads
        with statements.during() as reads:
            assert job.id in first_frame(client, paths[0])
        assert len(reads) == 2, (how, reads)
        assert "api_tokens" in reads[0] and "scraping_jobs" in reads[1], (how, reads)
        for path in paths:  # known now: the snapshot, its access check in it, and no more
            with statements.during() as reads:
                assert job.id in first_frame(client, path)
            assert len(reads) == 1, (how, path, reads)
            assert "scraping_jobs" in reads[0] and "members" in reads[0], (how, reads)
            assert statements.pings <= 1  # PostgreSQL: the pool's check of the connection
        with statements.during() as reads:  # any other request: what it reads, no more
            assert client.get("/api/campaigns").status_code == 200
        assert len(reads) == 1 and "api_tokens" not in reads[0], (how, reads)


def test_a_stream_refuses_a_stranger_before_it_looks_at_anything_else(app: App) -> None:
    made = app.runtime.accounts.create_user("first@example.com")
    campaign = app.client(made.token).post("/api/campaigns", json={"name": "c"}).json()
    job = new_job(app.runtime.store, campaign["id"], made.user.id)
    odd = {"Last-Event-ID": "9" * 40}
    for who in (app.client("st_not-a-token"), app.client()):
        assert who.get(f"/api/jobs/{job.id}/events", headers=odd).status_code == 401
    assert app.client(made.token).get(f"/api/jobs/{job.id}/events",
                                      headers=odd).status_code == 400


def test_a_token_revoked_elsewhere_is_refused_within_the_cache_time_and_its_stream_ends(
        start_app: Callable[..., App]) -> None:
    app = start_app()  # the defaults: what a deployment gets
    cache = app.runtime.settings.credential_cache_seconds
    assert 0 < cache <= 5
    assert Settings.model_fields["stream_credential_check_seconds"].default <= 10
    made = app.runtime.accounts.create_user("leak@example.com")
    api = app.client(made.token)
    campaign = api.post("/api/campaigns", json={"name": "c"}).json()  # remembered from here
    stream = Listener(app.client(made.token), f"/api/campaigns/{campaign['id']}/events")
    [token] = [t for t in app.runtime.accounts.tokens("leak@example.com") if t.kind == "api"]
    # As `scrapetrack users revoke` does from another process: this one is not told.
    app.runtime.store.revoke_tokens([token.id], utcnow())
    revoked = time.monotonic()
    wait_until(lambda: api.get("/api/campaigns").status_code == 401, cache + SLACK,
               "the revoked token to be refused")
    assert time.monotonic() - revoked <= cache + SLACK
    wait_until(stream.ended.is_set, 20 - (time.monotonic() - revoked),
               "the revoked token's stream to end")


def test_a_remembered_credential_ends_with_its_expiry(start_app: Callable[..., App]) -> None:
    app = start_app(CREDENTIAL_CACHE_SECONDS=60)
    made = app.runtime.accounts.create_user("brief@example.com")
    expires = utcnow() + timedelta(seconds=3)
    token = "st_expiring-" + made.token[3:]
    app.runtime.store.add_token(made.user.id, hash_token(token), token[:10], "api",
                                expires_at=expires)
    client = app.client(token)
    assert client.get("/api/campaigns").status_code == 200  # remembered, for 60 s
    wait_until(lambda: utcnow() > expires, 10, "the token to expire")
    assert client.get("/api/campaigns").status_code == 401


def stored_last_use(store: Store, token_id: str) -> Any:
    return next(t.last_used_at for t, _ in store.tokens() if t.id == token_id)


def test_last_uses_are_written_within_the_interval(start_app: Callable[..., App]) -> None:
    app = start_app()
    made = app.runtime.accounts.create_user("busy@example.com")
    [token] = [t for t in app.runtime.accounts.tokens("busy@example.com") if t.kind == "api"]
    assert app.client(made.token).get("/api/campaigns").status_code == 200
    used = time.monotonic()
    wait_until(lambda: stored_last_use(app.runtime.store, token.id),
               token_uses.WRITE_EVERY_SECONDS + SLACK, "the last use to be written")
    assert time.monotonic() - used <= token_uses.WRITE_EVERY_SECONDS + SLACK


def test_last_uses_are_written_when_the_process_stops(
        make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_uses, "WRITE_EVERY_SECONDS", 3600.0)  # only the last write
    settings = make_settings()
    runtime = build_runtime(settings, migrate=True, embedded_worker=False)
    try:
        made = runtime.accounts.create_user("last@example.com")
        [token] = [t for t in runtime.accounts.tokens("last@example.com") if t.kind == "api"]
        with serve_in_thread(create_app(settings, runtime=runtime, worker=False)) as url:
            answer = httpx.get(f"{url}/api/campaigns",
                               headers={"Authorization": f"Bearer {made.token}"})
            assert answer.status_code == 200
            assert stored_last_use(runtime.store, token.id) is None  # noted, not written
            [shown] = [t for t in runtime.accounts.tokens("last@example.com")
                       if t.kind == "api"]
            assert shown.last_used_at is not None  # what this process lists includes it
        assert stored_last_use(runtime.store, token.id) == shown.last_used_at
    finally:
        runtime.close()


def test_many_tokens_last_uses_are_one_statement_and_never_go_back(store: Store) -> None:
    user = store.create_user("many@example.com")
    ids = [store.add_token(user.id, f"h{n}", f"p{n}", "api").id for n in range(3)]
    now = utcnow()
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        store.note_token_uses({token_id: now for token_id in ids})
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "api_tokens" in s]) == 1, statements
    store.note_token_uses({ids[0]: now - timedelta(seconds=30)})  # another process, behind
    assert stored_last_use(store, ids[0]) == now
    assert all(stored_last_use(store, token_id) == now for token_id in ids)
