"""PostgreSQL and Redis restarting in the middle of a job: web and worker reconnect, the job
completes, nothing is lost, and a watcher's stream still sees the end.

These restart the machine's own servers, so they run where we may do that (as root, with the
Debian tools); under CI=true they must run."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.conftest import REDIS_URL, HeldSandbox, require, wait_until
from tests.integration.conftest import App, wait_for_items, wait_for_job
from tests.integration.test_events import sse
from tests.integration.test_keyword_job import expected_creators, start

# Every other test uses these servers too: these run alone, after the rest (see the Makefile).
pytestmark = pytest.mark.exclusive

CAN_RESTART = os.geteuid() == 0 and shutil.which("pg_ctlcluster") is not None \
    and shutil.which("redis-server") is not None


@pytest.fixture(autouse=True)
def restartable() -> None:
    require("root and the Debian service tools", CAN_RESTART)


def restart_postgres() -> None:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart",
                    "-m", "fast"], check=True, timeout=120)


def restart_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    with contextlib.suppress(redis.ConnectionError):  # it answers by closing the connection
        client.shutdown(nosave=True)
    subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port",
                    "6379", "--save", "", "--appendonly", "no"], check=True, timeout=30)
    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(REDIS_URL).ping())
        except redis.ConnectionError:
            return False

    wait_until(answers, 30, "Redis to come back")


class Watch(threading.Thread):
    """A client following the job's event stream across the restart."""

    def __init__(self, app: App, token: str, job_id: str) -> None:
        super().__init__(daemon=True)
        self.client = app.client(token)
        self.job_id = job_id
        self.statuses: list[str] = []
        self.last: str | None = None  # the last event id, to resume from

    def run(self) -> None:
        # A failed run shows in the test's own assertion on what this thread saw.
        with contextlib.suppress(AssertionError):
            wait_until(self.follow_once, 120, "the stream to show the job completed")

    def follow_once(self) -> bool:
        """One connection, read until the stream ends or fails: whether it showed the end."""
        headers = {"Last-Event-ID": self.last} if self.last else {}
        # The server may answer 503, or not at all, while a service restarts.
        with contextlib.suppress(Exception), self.client.stream(
                "GET", f"/api/jobs/{self.job_id}/events", headers=headers) as response:
            for event_id, data in sse(response):
                self.last = str(event_id)
                self.statuses.append(data["status"])
        return bool(self.statuses) and self.statuses[-1] == "completed"


def run_through(app: App, restart: Callable[[], None], held_sandbox: HeldSandbox) -> None:
    created = app.runtime.accounts.create_user("alice@example.com")
    alice = app.client(created.token)
    keywords = ["fitness"]
    job = start(alice, keywords, 1500)
    watch = Watch(app, created.token, job["id"])
    watch.start()
    # The run held at 100 of its items across the restart: the job is mid-run throughout.
    run = held_sandbox.run(1)
    held_sandbox.write(run, 100)
    wait_for_items(alice, job, 100)
    restart()
    # After the restart the job reads on from where it stood, then to the end.
    held_sandbox.write(run, 800)
    wait_for_items(alice, job, 800, timeout=120)
    held_sandbox.finish(run)
    final, _ = wait_for_job(alice, job, timeout=120)
    assert final["status"] == "completed", final
    items, skipped, handles = expected_creators(app.runtime, job["id"])
    assert (final["processedResults"], final["skippedItems"]) == (items, skipped)
    assert sorted(r.handle.lower() for r in app.runtime.store.creators(job["id"])) == \
        sorted(handles)
    assert held_sandbox.state.runs_started == 1
    watch.join(timeout=60)
    assert watch.statuses and watch.statuses[-1] == "completed"


@pytest.mark.parametrize("stack", ["postgres"], indirect=True)
def test_a_postgresql_restart_mid_job(held_sandbox: HeldSandbox,
                                      start_app: Callable[..., App]) -> None:
    app = start_app(apify_api_url=held_sandbox.url)
    assert app.runtime.bus.name == "postgres"
    run_through(app, restart_postgres, held_sandbox)


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_redis_restart_mid_job(start_app: Callable[..., App], redis_url: str,
                                 held_sandbox: HeldSandbox) -> None:
    app = start_app(redis_url=redis_url, queue_url=redis_url, apify_api_url=held_sandbox.url)
    assert app.runtime.bus.name == "redis"
    run_through(app, restart_redis, held_sandbox)
