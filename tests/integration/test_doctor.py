"""`scrapetrack doctor` and `scrapetrack --version` as a user runs them: real subprocesses
against real backends and an Apify-compatible sandbox that checks its token."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest

from scrapetrack import __version__
from scrapetrack.config import Settings
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.serving import serve_in_thread
from tests.conftest import free_port
from tests.integration.test_cli import SCRAPETRACK, env_for

TOKEN = "doctor-test-token"


@pytest.fixture(scope="module")
def strict_sandbox() -> Iterator[str]:
    """A sandbox that answers TOKEN only, as Apify answers a real account's token."""
    with serve_in_thread(create_sandbox_app(token=TOKEN), lifespan=False) as url:
        yield url


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Within the checks' own deadlines (2 s each, side by side; 5 s for Apify) and start-up.
    return subprocess.run([SCRAPETRACK, "doctor"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def said(output: str) -> str:
    """The output with its wrapping undone, to look for whole sentences."""
    return " ".join(output.split())


def test_all_ok_on_each_stack(make_settings: Callable[..., Settings],
                              strict_sandbox: str) -> None:
    """Ran on SQLite and on PostgreSQL + Redis."""
    settings = make_settings()
    found = doctor(env_for(settings, APIFY_API_URL=strict_sandbox, APIFY_TOKEN=TOKEN))
    assert found.returncode == 0, found.stdout + found.stderr
    lines = found.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), found.stdout
    heads = [line.split()[:2] for line in lines if not line.startswith(" ")]
    assert heads[:4] == [["ok", "database"], ["ok", "queue"], ["ok", "event"], ["ok", "Apify"]]
    assert lines[-1] == "all checks passed"
    text = said(found.stdout)
    assert "the token works: user sandbox" in text
    if settings.redis_url:
        assert "ok event bus Redis at 127.0.0.1:6379" in text
        assert "ok database PostgreSQL at 127.0.0.1:5432/scrapetrack_test_" in text
    else:
        assert "ok database SQLite at" in text
    assert "migrations are pending" in text  # nothing has migrated this new database yet


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_each_problem_is_named_with_its_fix(make_settings: Callable[..., Settings],
                                            strict_sandbox: str) -> None:
    closed = free_port()  # nothing listens there
    env = env_for(make_settings(), APIFY_API_URL=strict_sandbox, APIFY_TOKEN="not-the-token",
                  DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed}/app",
                  REDIS_URL=f"redis://127.0.0.1:{closed}/0")
    found = doctor(env)
    assert found.returncode == 1 and found.stdout, found.stdout + found.stderr
    text = said(found.stdout)
    assert (f"FAIL database PostgreSQL refused the connection at 127.0.0.1:{closed}/app fix: "
            "is PostgreSQL running there? check DATABASE_URL") in text
    assert "ok queue SQLite at" in text
    assert (f"FAIL event bus Redis refused the connection at 127.0.0.1:{closed}/0 fix: is "
            "Redis running there? check REDIS_URL") in text
    assert "FAIL Apify Apify refused the token while checking the token (HTTP 401" in text
    assert "fix: set APIFY_TOKEN to a token from Apify Console" in text
    assert found.stdout.splitlines()[-1] == \
        "3 problems: fix them, then run `scrapetrack doctor` again"
    assert "not-the-token" not in found.stdout + found.stderr


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_without_a_token_it_says_the_sandbox_runs_searches(
        make_settings: Callable[..., Settings]) -> None:
    env = env_for(make_settings(), APIFY_TOKEN="", APIFY_API_URL="")
    env.pop("APIFY_TOKEN")
    env.pop("APIFY_API_URL")
    found = doctor(env)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "ok Apify APIFY_TOKEN is not set: searches run against the built-in sandbox" in \
        said(found.stdout)


def test_version() -> None:
    shown = subprocess.run([SCRAPETRACK, "--version"], capture_output=True, text=True,
                           timeout=60, check=True)
    assert shown.stdout == f"scrapetrack {__version__}\n"
    assert __version__ == "0.2.0"
