"""What `scrapetrack doctor` and `scrapetrack serve` say, for the settings in use: pure."""

from __future__ import annotations

from typing import Any

import pytest

from scrapetrack.config import Settings
from scrapetrack.deployment import limits
from scrapetrack.doctor import Finding, advise, report
from scrapetrack.readiness import Check, Readiness


def settings(**values: Any) -> Settings:
    return Settings(**values)


@pytest.mark.parametrize(("reason", "said", "fix"), [
    ('The database is unavailable: connection failed: connection to server at "10.0.0.5", '
     "port 5432 failed: Connection refused Is the server running on that host?",
     "PostgreSQL refused the connection at 10.0.0.5:5432/app",
     "is PostgreSQL running there? check DATABASE_URL"),
    ('FATAL: password authentication failed for user "app"',
     "PostgreSQL at 10.0.0.5:5432/app refused the credentials",
     "check the user and password in DATABASE_URL"),
    ('FATAL: database "app" does not exist', "PostgreSQL at 10.0.0.5:5432/app has no such "
     "database", "create it (createdb NAME), or check DATABASE_URL"),
    ("no answer within 2 s", "PostgreSQL at 10.0.0.5:5432/app did not answer in time",
     "is the host up and reachable (network, firewall)? check DATABASE_URL"),
    ("something new", "PostgreSQL at 10.0.0.5:5432/app: something new", "check DATABASE_URL"),
])
def test_advice_names_what_to_fix(reason: str, said: str, fix: str) -> None:
    assert advise(reason, kind="PostgreSQL", where="10.0.0.5:5432/app",
                  var="DATABASE_URL") == (said, fix)


def test_the_report_fits_80_columns() -> None:
    findings = [
        Finding("database", True, "SQLite at var/scrapetrack.db"),
        Finding("event bus", False, "Redis refused the connection at "
                "a-very-long-host-name.internal.example.com:6379/0",
                "is Redis running there? check REDIS_URL"),
        Finding("Apify", False, "Apify refused the token while checking the token (HTTP 401 "
                "user-or-token-not-found): User was not found or authentication token is "
                "not valid (check APIFY_TOKEN)",
                "set APIFY_TOKEN to a token from Apify Console > Settings > API & "
                "Integrations"),
    ]
    lines = report(findings)
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0] == "ok    database   SQLite at var/scrapetrack.db"
    assert lines[1].startswith("FAIL  event bus  Redis refused the connection at")
    assert any(line.strip().startswith("fix: is Redis running there?") for line in lines)
    assert lines[-1] == "2 problems: fix them, then run `scrapetrack doctor` again"
    assert report(findings[:1])[-1] == "all checks passed"


def test_readiness_names_what_is_down() -> None:
    found = Readiness((Check("store"), Check("queue", "refused"), Check("bus", "silent")))
    assert not found.ready
    assert found.summary() == "queue and bus down"
    assert found.as_dict() == {"store": "ok", "queue": "down: refused", "bus": "down: silent"}
    assert Readiness((Check("store"),)).summary() == "ready"


def test_the_embedded_default_states_its_limits() -> None:
    default = settings(database_url="sqlite:///var/scrapetrack.db", WORKER_CONCURRENCY=32)
    lines = limits(default, bus="inprocess", worker=True)
    assert lines == [
        "Embedded default: SQLite at var/scrapetrack.db, one process (web + worker), "
        "32 job slots (WORKER_CONCURRENCY).",
        "To serve more people or run more searches at once, see docs/scaling.md "
        "(PostgreSQL + Redis + more processes)."]
    web_only = " ".join(limits(default, bus="poll", worker=False))
    assert "web only: no worker runs in this process" in web_only


def test_a_scaled_out_deployment_says_so() -> None:
    scaled = settings(database_url="postgresql+psycopg://app:secret@db:5432/app",
                      queue_url="redis://cache:6379/0", WORKER_CONCURRENCY=8)
    text = " ".join(limits(scaled, bus="redis", worker=True))
    assert text.startswith("PostgreSQL at db:5432/app, queue on Redis at cache:6379/0, "
                           "live updates by Redis pub/sub; this process: web + worker, "
                           "8 job slots")
    assert "secret" not in text
    alone = " ".join(limits(scaled, bus="redis", worker=False))
    assert "web only: searches run in `scrapetrack worker` processes" in alone
