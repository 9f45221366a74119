"""The queue seam, and its Huey backend for QUEUE_URL: one task, `run_job`, and a consumer
we can embed. The other backend, QStash, is in qstash.py.

Huey delivers at most once and cannot stop a running task; the job row carries what makes
jobs survive that (heartbeat, run id, offset).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huey import Huey, PostgresHuey, PriorityRedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.storage import PostgresStorage

from scrapetrack.exceptions import ConfigError, QueueUnavailable
from scrapetrack.store.db import private_file

log = logging.getLogger(__name__)

QUEUE_NAME = "scrapetrack"


def make_huey(url: str, name: str = QUEUE_NAME) -> Huey:
    """A Huey whose storage is the one QUEUE_URL names."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        private_file(path)
        return SqliteHuey(name, filename=str(path), results=False, timeout=30)
    if url.startswith(("redis://", "rediss://", "unix://")):
        # The priority flavour: the reaper must run ahead of waiting jobs.
        return PriorityRedisHuey(name, url=url, results=False)
    if url.startswith(("postgresql://", "postgres://")):
        return ClosingPostgresHuey(name, dsn=url, results=False)
    raise ConfigError(f"QUEUE_URL must be sqlite:///…, redis://… or postgresql://…, not {url!r}")


class ClosingPostgresStorage(PostgresStorage):  # type: ignore[misc]
    """Huey leaves each consumer thread's LISTEN connection to the garbage collector; these
    are closed with the queue instead, so a stopped worker holds no connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def _connect(self) -> Any:
        conn = super()._connect()
        with self._opened_lock:
            self._opened = [c for c in self._opened if not c.closed]
            self._opened.append(conn)
        return conn

    _create_connection = _connect

    def close(self) -> Any:
        closed = super().close()
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            with contextlib.suppress(Exception):
                conn.close()
        return closed


class ClosingPostgresHuey(PostgresHuey):  # type: ignore[misc]
    storage_class = ClosingPostgresStorage


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer that leaves signal handling to its host (uvicorn, or our worker command)."""

    def _set_signal_handlers(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Parked:
    """A job left at the end of a delivery's time budget (QStash): still `processing`,
    owned by no worker, claimable by the next delivery (or by anyone once its heartbeat is
    stale)."""

    job_id: str
    version: int
    # Seconds without new items when it was parked, so the stall limit spans deliveries.
    idle_seconds: float


class Queue(ABC):
    """What the service, the runtime and the reaper need from a queue."""

    @abstractmethod
    def bind(self, run_job: Callable[[str], object]) -> None:
        """Register the function that runs a job."""

    @abstractmethod
    def enqueue(self, job_id: str, delay_seconds: float = 0) -> None:
        """Ask for the job to be run (not before `delay_seconds`); QueueUnavailable if that
        cannot be done now."""

    @abstractmethod
    def bind_delivery(self, deliver: Callable[[int], object]) -> None:
        """Register the function that makes one attempt of a delivery (deliveries.py)."""

    @abstractmethod
    def enqueue_delivery(self, delivery_id: int, delay_seconds: float = 0) -> None:
        """Ask for a delivery's next attempt (not before `delay_seconds`);
        QueueUnavailable if that cannot be done now."""

    @abstractmethod
    def queued_job_ids(self) -> list[str]:
        """The jobs known to be waiting (the reaper leaves them be)."""

    def pending(self) -> int | None:
        """How many tasks wait for a free worker; None where the backend cannot tell."""
        return None

    @abstractmethod
    def start_consumer(self, workers: int) -> None:
        """Start running jobs in this process."""

    @abstractmethod
    def stop_consumer(self, graceful: bool = True) -> None: ...

    def close(self) -> None:
        self.stop_consumer()


class JobQueue(Queue):
    def __init__(self, huey: Huey) -> None:
        self.huey = huey
        self._task: Any = None
        self._deliver: Any = None
        self._consumer: EmbeddedConsumer | None = None

    def bind(self, run_job: Callable[[str], object]) -> None:
        """Register the function that runs a job; every process registers the same name."""
        self._task = self.huey.task(name="run_job")(run_job)

    def bind_delivery(self, deliver: Callable[[int], object]) -> None:
        self._deliver = self.huey.task(name="deliver")(deliver)

    def enqueue(self, job_id: str, delay_seconds: float = 0) -> None:
        self._send(self._task, job_id, delay_seconds)

    def enqueue_delivery(self, delivery_id: int, delay_seconds: float = 0) -> None:
        self._send(self._deliver, delivery_id, delay_seconds)

    @staticmethod
    def _send(task: Any, arg: object, delay_seconds: float) -> None:
        try:
            if delay_seconds > 0:
                task.schedule(args=(arg,), delay=delay_seconds)
            else:
                task(arg)
        except Exception as exc:  # Redis, PostgreSQL or the SQLite file: all Huey lets through
            raise QueueUnavailable(f"The job queue is unavailable: {exc}") from exc

    def queued_job_ids(self) -> list[str]:
        """The jobs waiting in the queue, or scheduled for later (read whole: the reaper's
        occasional look)."""
        try:
            waiting = [*self.huey.pending(), *self.huey.scheduled()]
        except Exception as exc:
            raise QueueUnavailable(f"The job queue is unavailable: {exc}") from exc
        return [str(task.args[0]) for task in waiting if task.name == "run_job" and task.args]

    def pending(self) -> int:
        """How many tasks wait for a free worker."""
        try:
            return int(self.huey.pending_count())
        except Exception as exc:
            raise QueueUnavailable(f"The job queue is unavailable: {exc}") from exc

    def start_consumer(self, workers: int, **options: Any) -> None:
        self._consumer = EmbeddedConsumer(self.huey, workers=workers, worker_type="thread",
                                          periodic=False, initial_delay=0.05, max_delay=0.5,
                                          backoff=1.5, **options)
        self._consumer.start()

    def stop_consumer(self, graceful: bool = True) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=graceful)
            self._consumer = None

    def close(self) -> None:
        self.stop_consumer()
        self.huey.storage.close()
