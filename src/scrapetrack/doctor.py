"""`scrapetrack doctor`: the readiness checks from the shell, plus the Apify token, each
with what was found and what to fix.

The backends are the ones `runtime.py` chooses for these settings and are asked the same
questions as `/readyz` (readiness.py); the token is checked with one authenticated call to
Apify's "get private user data". Nothing here starts a worker or changes data, apart from
creating SQLite files where serve would create them.
"""

from __future__ import annotations

import contextlib
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from scrapetrack import readiness
from scrapetrack.config import Settings
from scrapetrack.deployment import describe_url, kind_of, where_of
from scrapetrack.exceptions import ProviderRejected, ProviderUnavailable, ScrapetrackError

if TYPE_CHECKING:
    from scrapetrack.events.base import Bus
    from scrapetrack.queue import Queue
    from scrapetrack.store.repository import Store

# A doctor answers within seconds: one quick retry, a short wait per request.
APIFY_TIMEOUT = timedelta(seconds=5)
# What a driver's message says → what happened, and what to fix ({kind}, {where}, {var}).
ADVICE: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.I), said, fix) for pattern, said, fix in (
        (r"connection refused|errno 111|ECONNREFUSED", "{kind} refused the connection at "
         "{where}", "is {kind} running there? check {var}"),
        (r"no answer within|timed? ?out", "{kind} at {where} did not answer in time",
         "is the host up and reachable (network, firewall)? check {var}"),
        (r"password authentication failed|WRONGPASS|NOAUTH|invalid password|"
         r"invalid username-password", "{kind} at {where} refused the credentials",
         "check the user and password in {var}"),
        (r'database "[^"]+" does not exist', "{kind} at {where} has no such database",
         "create it (createdb NAME), or check {var}"),
        (r"could not translate host name|name or service not known|nodename nor servname|"
         r"temporary failure in name resolution|getaddrinfo", "the host name in {var} does "
         "not resolve", "check the host in {var}"),
        (r"unable to open database file|readonly database|permission denied|read-only",
         "{kind} cannot write {where}", "check that its folder exists and is writable by "
         "this user, or set {var}"),
    ))


@dataclass(frozen=True, slots=True)
class Finding:
    name: str  # database, queue, event bus, Apify
    ok: bool
    said: str  # what was found: where it is, or what is wrong
    fix: str | None = None  # what to do about it


@dataclass(frozen=True, slots=True)
class Backend:
    """One backend to check: its place in the findings and how to talk about it."""

    name: str
    var: str  # the setting that points at it
    url: str
    ping: Callable[[], object] | None = None  # None: it could not even be built
    problem: str | None = None  # why it could not be built


def examine(settings: Settings) -> list[Finding]:
    """Every finding, in the order a person fixes them: database, queue, bus, Apify."""
    from scrapetrack.runtime import make_bus, make_queue
    from scrapetrack.store.db import make_engine
    from scrapetrack.store.repository import Store

    store: Store | None = None
    queue: Queue | None = None
    bus: Bus | None = None
    try:
        backends: list[Backend] = []
        try:
            store = Store(make_engine(settings.database_url, pool_size=2, overflow=1))
            db = store
            backends.append(Backend("database", "DATABASE_URL", settings.database_url,
                                    lambda: readiness.ping_store(db)))
        except Exception as exc:  # a URL SQLAlchemy cannot read, a folder it cannot make
            backends.append(Backend("database", "DATABASE_URL", settings.database_url,
                                    problem=_message(exc)))
        try:
            queue = make_queue(settings)
            made = queue
            backends.append(Backend("queue", "QUEUE_URL", settings.queue_url,
                                    lambda: readiness.ping_queue(made)))
        except Exception as exc:
            backends.append(Backend("queue", "QUEUE_URL", settings.queue_url,
                                    problem=_message(exc)))
        if store is not None:
            try:
                bus = make_bus(settings, store, embedded_worker=True)
                listens = bus
                var, url = _bus_setting(settings, bus)
                backends.append(Backend("event bus", var, url,
                                        lambda: readiness.ping_bus(listens)))
            except Exception as exc:
                backends.append(Backend("event bus", "EVENT_BUS", settings.event_bus,
                                        problem=_message(exc)))
        findings = _check(backends)
        database = findings[0]
        if database.ok and store is not None:
            findings[0] = _schema(database, store)
        findings.append(check_apify(settings))
        return findings
    finally:
        for closable in (bus, queue, store):
            if closable is not None:
                _quietly(closable.close)


def _check(backends: list[Backend]) -> list[Finding]:
    pings = {b.name: b.ping for b in backends if b.ping is not None}
    results = {c.name: c for c in readiness.run_checks(pings)}
    findings = []
    for backend in backends:
        if backend.problem is not None:
            findings.append(Finding(backend.name, False, backend.problem,
                                    f"check {backend.var}"))
            continue
        result = results[backend.name]
        if result.ok:
            findings.append(Finding(backend.name, True, _where_said(backend)))
        else:
            said, fix = advise(result.reason or "", kind=kind_of(backend.url),
                               where=where_of(backend.url), var=backend.var)
            findings.append(Finding(backend.name, False, said, fix))
    return findings


def _schema(found: Finding, store: Store) -> Finding:
    from scrapetrack.store.migrate import behind

    # The database answered already; whether it is migrated is a note on top of that.
    with contextlib.suppress(Exception):
        if behind(store.engine):
            return Finding(found.name, True, f"{found.said}; migrations are pending",
                           "serve applies them at start, or run `scrapetrack migrate`")
    return found


def check_apify(settings: Settings) -> Finding:
    """One authenticated call with the token, unless searches go to the built-in sandbox."""
    if settings.uses_sandbox and not settings.apify_api_url:
        return Finding("Apify", True, "APIFY_TOKEN is not set: searches run against the "
                       "built-in sandbox (set APIFY_TOKEN to search on Apify)")
    from scrapetrack.providers.apify import ApifyProvider

    url = settings.resolved_apify_api_url()
    token = settings.apify_token.get_secret_value() if settings.apify_token else None
    provider = ApifyProvider(token, url, max_retries=1,
                             min_delay_between_retries=timedelta(milliseconds=200),
                             request_timeout=APIFY_TIMEOUT)
    try:
        user = provider.account()
    except ProviderRejected as exc:
        return Finding("Apify", False, exc.message,
                       "set APIFY_TOKEN to a token from Apify Console > Settings > "
                       "API & Integrations")
    except ProviderUnavailable as exc:
        return Finding("Apify", False, exc.message,
                       "check the network, and APIFY_API_URL if it is set")
    except ScrapetrackError as exc:
        return Finding("Apify", False, exc.message, "check APIFY_TOKEN and APIFY_API_URL")
    finally:
        _quietly(provider.close)
    return Finding("Apify", True, f"the token works: user {user} at {where_of(url)}")


def advise(reason: str, *, kind: str, where: str, var: str) -> tuple[str, str]:
    """What happened, and what to fix, from a driver's message."""
    for pattern, said, fix in ADVICE:
        if pattern.search(reason):
            values = {"kind": kind, "where": where, "var": var}
            return said.format(**values), fix.format(**values)
    return f"{kind} at {where}: {reason}", f"check {var}"


def report(findings: list[Finding], width: int = 80) -> list[str]:
    """A line per finding (wrapped to `width`), `fix:` under each problem (`note:` under
    a finding that is fine but worth a word), and a last line that sums up."""
    label = max(len(f.name) for f in findings) + 2
    indent = " " * (6 + label)
    lines: list[str] = []
    for found in findings:
        head = f"{'ok' if found.ok else 'FAIL':<6}{found.name:<{label}}"
        lines += textwrap.wrap(found.said, width, initial_indent=head,
                               subsequent_indent=indent, break_on_hyphens=False)
        if found.fix:  # on a problem, what to fix; on a finding that is fine, a note
            lines += textwrap.wrap(f"{'note' if found.ok else 'fix'}: {found.fix}", width,
                                   initial_indent=indent,
                                   subsequent_indent=indent + "     ",
                                   break_on_hyphens=False)
    failed = sum(not f.ok for f in findings)
    lines.append("all checks passed" if not failed else
                 f"{failed} problem{'s' if failed > 1 else ''}: fix "
                 f"{'them' if failed > 1 else 'it'}, then run `scrapetrack doctor` again")
    return lines


def _bus_setting(settings: Settings, bus: Bus) -> tuple[str, str]:
    if bus.name == "redis" and settings.redis_url:
        return "REDIS_URL", settings.redis_url
    if bus.name == "postgres":
        return "DATABASE_URL", settings.database_url
    return "EVENT_BUS", bus.name


def _where_said(backend: Backend) -> str:
    if backend.var == "EVENT_BUS":
        return {"inprocess": "in-process (web and worker in one process)",
                "poll": "polling the database (no broker)"}.get(backend.url, backend.url)
    if backend.url == "qstash":
        return "QStash (a hosted service: not asked here)"
    return describe_url(backend.url)


def _message(exc: Exception) -> str:
    if isinstance(exc, ScrapetrackError):
        return exc.message
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _quietly(close: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # closing after a failed check may fail too
        close()
