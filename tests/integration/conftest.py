"""A running app (real uvicorn, embedded worker) and API clients for two users; a migrated
store on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest

from scrapetrack.config import Settings
from scrapetrack.loopthread import LoopThread
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import NO_CAPS, ItemsPage, RunCaps, RunInfo
from scrapetrack.runtime import Runtime, build_runtime
from scrapetrack.serving import bounded_heads, serve_in_thread
from scrapetrack.store.db import make_engine
from scrapetrack.store.migrate import upgrade
from scrapetrack.store.models import ScrapingJob
from scrapetrack.store.repository import Store
from scrapetrack.web.app import create_app
from tests.conftest import HeldSandbox, wait_until

TERMINAL = {"completed", "error", "timeout", "cancelled"}


@dataclass
class App:
    url: str
    runtime: Runtime
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client

    def user(self, email: str) -> httpx.Client:
        return self.client(self.runtime.accounts.create_user(email).token)


@pytest.fixture
def start_app(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., App]]:
    apps: list[App] = []
    stack: list[Any] = []

    def start(**overrides: Any) -> App:
        settings = make_settings(**overrides)
        runtime = build_runtime(settings, migrate=True)
        server = serve_in_thread(create_app(settings, runtime=runtime), http=bounded_heads(
            settings.http_head_timeout_seconds, settings.max_head_bytes))
        stack.append(server)
        apps.append(App(server.__enter__(), runtime))
        return apps[-1]

    yield start
    for server in reversed(stack):
        server.__exit__(None, None, None)
    for app in apps:
        for client in app.clients:
            client.close()
        app.runtime.close()


@pytest.fixture
def app(start_app: Callable[..., App]) -> App:
    return start_app()


def wait_for_job(client: httpx.Client, job: dict[str, Any], timeout: float = 60,
                 meanwhile: Callable[[], None] | None = None,
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll a job's status until it ends, calling `meanwhile` before each look; the final
    status and every status seen."""
    seen: list[dict[str, Any]] = []

    def ended() -> dict[str, Any] | None:
        if meanwhile is not None:
            meanwhile()
        # /api/jobs/{id}: the original design's route shows a cancelled job as an error.
        response = client.get(f"/api/jobs/{job['id']}")
        assert response.status_code == 200, response.text
        seen.append(response.json())
        return seen[-1] if seen[-1]["status"] in TERMINAL else None

    return wait_until(ended, timeout, f"job {job['id']} to end"), seen


def wait_for_items(client: httpx.Client, job: dict[str, Any], items: int,
                   timeout: float = 60) -> dict[str, Any]:
    """The job's status once it has read exactly `items` items of its run (ingested or
    skipped): with a held sandbox, the status it holds there."""
    def read() -> dict[str, Any] | None:
        response = client.get(f"/api/jobs/{job['id']}")
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        assert status["status"] not in TERMINAL, status
        return status if status["itemsRead"] == items else None

    return wait_until(read, timeout, f"job {job['id']} to have read {items} items")


class AsyncDriven(ApifyProvider):
    """The provider's coroutines (the worker's way), called as its blocking methods are: the
    provider tests run both ways, on a loop of their own as in the worker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop = LoopThread("provider-tests")

    def start(self, actor_id: str, run_input: dict[str, Any],
              caps: RunCaps = NO_CAPS) -> RunInfo:
        return self._loop.submit(self.start_async(actor_id, run_input, caps)).result()

    def get_run(self, run_id: str, wait_seconds: float = 0) -> RunInfo:
        if wait_seconds:  # the worker never holds a request open on a run
            return super().get_run(run_id, wait_seconds)
        return self._loop.submit(self.get_run_async(run_id)).result()

    def items_page(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        return self._loop.submit(self.items_page_async(dataset_id, offset, limit)).result()

    def abort(self, run_id: str) -> None:
        self._loop.submit(self.abort_async(run_id)).result()

    def close(self) -> None:
        if self._loop.started:
            self._loop.submit(self.aclose()).result()
            self._loop.close()
            super().close()


PROVIDER_CLASSES: dict[str, type[ApifyProvider]] = {"blocking": ApifyProvider,
                                                    "async": AsyncDriven}


@pytest.fixture(params=list(PROVIDER_CLASSES))
def provider_class(request: pytest.FixtureRequest) -> Iterator[type[ApifyProvider]]:
    """Each provider test twice: blocking calls (the service), coroutines (the worker).
    What a test makes is closed after it, so no connection outlives its loop."""
    made: list[ApifyProvider] = []
    kind = PROVIDER_CLASSES[request.param]

    class Closed(kind):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    yield Closed
    for provider in made:
        provider.close()


@pytest.fixture
def held_provider(held_sandbox: HeldSandbox) -> Iterator[ApifyProvider]:
    """The real apify-client over HTTP against the held sandbox."""
    provider = ApifyProvider(None, held_sandbox.url, max_retries=1,
                             min_delay_between_retries=timedelta(milliseconds=10))
    yield provider
    provider.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Store]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" \
        else f"sqlite:///{tmp_path}/store.db"
    store = Store(make_engine(url))
    upgrade(store.engine)
    yield store
    store.close()


def new_job(store: Store, campaign_id: str | None = None, user_id: str | None = None,
            ) -> ScrapingJob:
    if user_id is None:
        user_id = store.create_user(f"{uuid.uuid4().hex[:8]}@example.com").id
    if campaign_id is None:
        campaign_id = store.create_campaign(user_id, "c", None).id
    return store.create_job(campaign_id=campaign_id, user_id=user_id, platform="tiktok",
                            keywords=["yoga", "pilates"], target_results=50)


class Listener:
    """An open event stream read on a thread, until the server ends it."""

    def __init__(self, client: httpx.Client, path: str, **headers: str) -> None:
        self.lines: list[str] = []
        self.ended = threading.Event()
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(client, path, headers),
                                       daemon=True)
        self.thread.start()
        wait_until(self.opened.is_set, 30, f"the stream {path} to open")

    def _read(self, client: httpx.Client, path: str, headers: dict[str, str]) -> None:
        try:
            with client.stream("GET", path, headers=headers, timeout=None) as response:
                assert response.status_code == 200
                self.opened.set()
                for line in response.iter_lines():  # returns once the server ends it
                    self.lines.append(line)
        except httpx.RemoteProtocolError:  # the server stopped with the stream open
            pass
        self.ended.set()
