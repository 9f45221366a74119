"""The Huey queue for QUEUE_URL: one task, `run_job`, and a consumer we can embed.

Huey delivers at most once and cannot stop a running task; the job row carries what makes
jobs survive that (heartbeat, run id, offset).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from scrapetrack.exceptions import ConfigError

log = logging.getLogger(__name__)

QUEUE_NAME = "scrapetrack"


def make_huey(url: str) -> Huey:
    """A Huey whose storage is the one QUEUE_URL names."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(QUEUE_NAME, filename=str(path), results=False, timeout=30)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(QUEUE_NAME, url=url, results=False)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresHuey(QUEUE_NAME, dsn=url, results=False)
    raise ConfigError(f"QUEUE_URL must be sqlite:///…, redis://… or postgresql://…, not {url!r}")


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer that leaves signal handling to its host (uvicorn, or our worker command)."""

    def _set_signal_handlers(self) -> None:
        pass


class JobQueue:
    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._task: Any = None
        self._consumer: EmbeddedConsumer | None = None

    def bind(self, run_job: Callable[[str], None]) -> None:
        """Register the function that runs a job; every process registers the same name."""
        self._task = self.huey.task(name="run_job")(run_job)

    def enqueue(self, job_id: str) -> None:
        self._task(job_id)

    def pending(self) -> int:
        return int(self.huey.pending_count())

    def start_consumer(self, workers: int, **options: Any) -> None:
        self._consumer = EmbeddedConsumer(self.huey, workers=workers, worker_type="thread",
                                          periodic=True, initial_delay=0.05, max_delay=0.5,
                                          backoff=1.5, **options)
        self._consumer.start()

    def stop_consumer(self, graceful: bool = True) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=graceful)
            self._consumer = None

    def close(self) -> None:
        self.stop_consumer()
        self.huey.storage.close()
