"""build_runtime(settings): the ONE place where backends are chosen and built."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field

from scrapetrack.accounts import Accounts
from scrapetrack.config import Settings
from scrapetrack.providers.apify import ApifyProvider
from scrapetrack.providers.base import Provider
from scrapetrack.queue import JobQueue, make_huey
from scrapetrack.service import Service
from scrapetrack.store.db import make_engine
from scrapetrack.store.migrate import upgrade
from scrapetrack.store.repository import Store
from scrapetrack.worker import JobRunner


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Runtime:
    settings: Settings
    store: Store
    provider: Provider
    queue: JobQueue
    accounts: Accounts
    service: Service
    runner: JobRunner
    stop: threading.Event = field(default_factory=threading.Event)

    def start_worker(self, concurrency: int | None = None) -> None:
        self.queue.start_consumer(concurrency or self.settings.worker_concurrency)

    def stop_worker(self) -> None:
        # Running jobs hand themselves back first, so the graceful join is quick.
        self.stop.set()
        self.queue.stop_consumer(graceful=True)

    def close(self) -> None:
        self.stop_worker()
        self.queue.close()
        self.provider.close()
        self.store.close()


def build_runtime(settings: Settings, *, migrate: bool = False,
                  provider: Provider | None = None) -> Runtime:
    pool = max(10, settings.worker_concurrency + 4)
    store = Store(make_engine(settings.database_url, pool_size=pool))
    if migrate:
        upgrade(store.engine)
    token = settings.apify_token.get_secret_value() if settings.apify_token else None
    provider = provider or ApifyProvider(token, settings.resolved_apify_api_url(),
                                          max_retries=settings.apify_max_retries)
    stop = threading.Event()
    huey = make_huey(settings.queue_url)
    queue = JobQueue(huey)
    runner = JobRunner(settings, store, provider, new_worker_id(), requeue=queue.enqueue,
                       stop=stop)
    queue.bind(runner.run)
    return Runtime(settings=settings, store=store, provider=provider, queue=queue,
                   accounts=Accounts(store), service=Service(settings, store, queue, provider),
                   runner=runner, stop=stop)
