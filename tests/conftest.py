"""Shared fixtures: backends (SQLite always; PostgreSQL and Redis when up, and always under
CI=true), the sandbox on a real socket, and a running app with its embedded worker."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import inspect
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

import httpx
import psycopg
import pytest
import redis

from scrapetrack.config import Settings, load_settings
from scrapetrack.providers.base import RunStatus
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.sandbox.state import SandboxRun, SandboxState
from scrapetrack.serving import serve_in_thread

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(check: Callable[[], Any]) -> bool:
    try:
        check()
    except Exception:
        return False
    return True


def _pg_up() -> bool:
    return _reachable(lambda: psycopg.connect(PG_ADMIN, connect_timeout=2).close())


def _redis_up() -> bool:
    return _reachable(lambda: redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping())


def require(service: str, up: bool) -> None:
    """Skip a test whose service is down, except under CI, where that is a failure."""
    if up:
        return
    if CI:
        pytest.fail(f"{service} is required under CI=true but is not reachable")
    pytest.skip(f"{service} is not running")


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    require("PostgreSQL", _pg_up())
    return PG_ADMIN


@pytest.fixture
def postgres_url(postgres_admin: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"scrapetrack_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url() -> str:
    require("Redis", _redis_up())
    return REDIS_URL


STACKS = ["sqlite", "postgres+redis", "postgres"]


@dataclass(frozen=True)
class Stack:
    """Where data, queue and live updates go: the embedded default, or a scaled-out one."""

    name: str
    database_url: str
    queue_url: str
    redis_url: str | None = None
    queue_name: str = "scrapetrack"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """App-level tests run on the embedded default and on PostgreSQL + Redis; those marked
    `all_stacks` also on PostgreSQL alone (store, queue and bus)."""
    if "stack" in metafunc.fixturenames and not any(
            "stack" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")):
        wide = metafunc.definition.get_closest_marker("all_stacks") is not None
        metafunc.parametrize("stack", STACKS if wide else STACKS[:2], indirect=True)


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    name = request.param
    if name == "sqlite":
        yield Stack(name, f"sqlite:///{tmp_path}/scrapetrack.db",
                    f"sqlite:///{tmp_path}/queue.db")
        return
    database = str(request.getfixturevalue("postgres_url"))
    if name == "postgres":
        yield Stack(name, database, database.replace("postgresql+psycopg://", "postgresql://"))
        return
    redis_url = str(request.getfixturevalue("redis_url"))
    # A queue of its own, so no test sees another's leftovers in the shared Redis.
    queue = f"test-{uuid.uuid4().hex[:10]}"
    yield Stack(name, database, redis_url, redis_url, queue)
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"*{queue}*"):
        client.delete(key)
    client.close()


@dataclass
class Sandbox:
    url: str
    state: SandboxState


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The sandbox on a real port, shared by the session; its counters show what it saw."""
    app = create_sandbox_app(items_per_second=200.0, start_delay_seconds=0.2)
    with serve_in_thread(app, lifespan=False) as url:
        yield Sandbox(url, app.state.sandbox)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def sandbox_url(sandbox: Sandbox) -> str:
    return sandbox.url


@dataclass
class HeldSandbox:
    """A sandbox whose runs write items only as the test moves its clock.

    Its runs write one item per second of a clock that stands still until `write` or
    `finish` moves it. A test holds a job at any point of its run and looks at it there,
    however slow the machine: no state of the job can pass unseen between two looks.
    """

    url: str
    state: SandboxState
    now: list[float]

    def run(self, number: int, timeout: float = 30) -> SandboxRun:
        """The `number`-th run begun (1 for the first), once it has begun."""
        def begun() -> list[SandboxRun] | None:
            runs = self.state.runs
            return runs if len(runs) >= number else None

        return wait_until(begun, timeout, f"run {number} to begin")[number - 1]

    def write(self, run: SandboxRun | str, items: int) -> None:
        """Move the clock to where `run` has written `items` items (it never moves back)."""
        if isinstance(run, str):
            run = self.state.run(run)
        at = run.started + run.plan.start_delay + (items + 0.5) / run.plan.items_per_second
        assert items <= run.plan.stop_after, f"the run writes {run.plan.stop_after} items"
        assert at >= self.now[0], "the sandbox's clock never moves back"
        self.now[0] = at

    def fail(self, run: SandboxRun | str) -> None:
        """Make `run` end FAILED, with no more items than it has written, once finished."""
        if isinstance(run, str):
            run = self.state.run(run)
        run.plan = dataclasses.replace(
            run.plan, outcome=RunStatus.FAILED, status_message="The test failed this run",
            stop_after=run.produced(self.now[0]))

    def finish(self, run: SandboxRun | str) -> None:
        """Let `run` write all its items and end as its plan says."""
        if isinstance(run, str):
            run = self.state.run(run)
        self.now[0] = max(self.now[0], run.natural_end() + 1)

    def finish_begun(self, first: int = 1) -> None:
        """Let every run begun so far, from the `first`-th on, write all its items and end
        (the profile lookups a job starts one after another, say)."""
        for run in self.state.runs[first - 1:]:
            self.finish(run)


@pytest.fixture
def held_sandbox() -> Iterator[HeldSandbox]:
    now = [0.0]
    app = create_sandbox_app(items_per_second=1.0, start_delay_seconds=0.0,
                             clock=lambda: now[0])
    with serve_in_thread(app, lifespan=False) as url:
        yield HeldSandbox(url, app.state.sandbox, now)  # type: ignore[attr-defined]


# What `scrapetrack serve` prints without a terminal: where it wrote the sign-in link.
SIGN_IN_FILE = re.compile(r"sign-in link \(.*\) is in (\S+);")


def sign_in_url_in(output: str, cwd: Path) -> str | None:
    """The sign-in link `scrapetrack serve` (started in `cwd`) wrote to its file, once its
    output names the file."""
    named = SIGN_IN_FILE.search(output)
    if named is None:
        return None
    path = cwd / named.group(1)
    return path.read_text().strip() if path.exists() else None


def sign_in_by_link(client: httpx.Client, link: str) -> httpx.Response:
    """What a person does with a sign-in link: open it, then press its button (a POST with
    the page's CSRF token). The answer to the POST."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
    assert set(fields) == {"csrf_token", "code"}, page.text
    return client.post("/login", data={k: html.unescape(v) for k, v in fields.items()})


POLL_SECONDS = 0.02  # how often a waiting test looks again
T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout: float = 10.0,
               what: str = "the condition") -> T:
    """The first truthy value of `check()`, looking every POLL_SECONDS until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(POLL_SECONDS)


@overload
async def until(check: Callable[[], Awaitable[T | None]], within: float = 10.0,
                what: str = "the condition") -> T: ...


@overload
async def until(check: Callable[[], T | None], within: float = 10.0,
                what: str = "the condition") -> T: ...


async def until(check: Callable[[], Any], within: float = 10.0,
                what: str = "the condition") -> Any:
    """wait_until inside a running loop: `check` may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(POLL_SECONDS)


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run(main()) on a thread of its own: the session's browser fixture keeps an
    event loop running on this one."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(main()))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="run-async")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_settings(tmp_path: Path, stack: Stack,
                  sandbox_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "SCRAPETRACK_DATA_DIR": tmp_path / "var",
            "database_url": stack.database_url,
            "queue_url": stack.queue_url,
            "redis_url": stack.redis_url,
            "QUEUE_NAME": stack.queue_name,
            "apify_api_url": sandbox_url,
            "apify_token": "sandbox-token",
            "WORKER_POLL_INTERVAL_SECONDS": 0.1,
            "WORKER_CONCURRENCY": 4,
        }
        values.update(overrides)
        # A developer's own `.env` in the checkout must not reach the tests.
        return load_settings(_env_file=None, **values)

    return make
