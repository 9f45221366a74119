"""Readiness: do the store, the queue and the event bus answer now?

One set of checks, asked by `/readyz`, by the `scrapetrack_*_up` gauges of `/metrics` and by
`scrapetrack doctor`, so the three never disagree. Each check runs on a thread of its own and
is given up after CHECK_SECONDS: a backend that hangs (a host gone silent, a full disk) makes
an answer "down", never a request that waits on a driver's own, much longer, timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import text

from scrapetrack.exceptions import ScrapetrackError

if TYPE_CHECKING:
    from scrapetrack.events.base import Bus
    from scrapetrack.store.repository import Store

# Short enough for a load balancer's probe, long enough for a PostgreSQL handshake over TLS.
CHECK_SECONDS = 2.0


class Queue(Protocol):
    def pending(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # store, queue or bus
    reason: str | None = None  # why it is down; None when it answered

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def text(self) -> str:
        """"ok", or "down: <reason>", as /readyz shows it."""
        return "ok" if self.reason is None else f"down: {self.reason}"


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def __getitem__(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def as_dict(self) -> dict[str, str]:
        return {check.name: check.text for check in self.checks}

    def summary(self) -> str:
        """"queue down", "store and bus down": what /readyz's error names."""
        down = [check.name for check in self.checks if not check.ok]
        if len(down) > 1:
            return f"{', '.join(down[:-1])} and {down[-1]} down"
        return f"{down[0]} down" if down else "ready"


def ping_store(store: Store) -> None:
    """One round trip to the database; StoreUnavailable when it does not answer."""
    with store.reading() as session:
        session.execute(text("SELECT 1"))


def ping_queue(queue: Queue) -> int | None:
    """The queue's depth, read from its backend (QStash, a hosted service, is not asked:
    a failed publish says so where it happens, and the depth is None)."""
    return queue.pending()


def ping_bus(bus: Bus) -> None:
    bus.ping()


def check(store: Store, queue: Queue, bus: Bus,
          timeout: float = CHECK_SECONDS) -> Readiness:
    """Ask the three at once; each answers within `timeout` or counts as down."""
    pings: dict[str, Callable[[], object]] = {
        "store": lambda: ping_store(store), "queue": lambda: ping_queue(queue),
        "bus": lambda: ping_bus(bus)}
    return Readiness(run_checks(pings, timeout))


def run_checks(pings: Mapping[str, Callable[[], object]],
               timeout: float = CHECK_SECONDS) -> tuple[Check, ...]:
    """Run each ping on its own daemon thread, all within one deadline. A ping still
    running then is left to its driver's timeout: a thread, not the caller, waits on it."""
    results: dict[str, Check] = {}
    lock = threading.Lock()

    def run(name: str, ping: Callable[[], object]) -> None:
        try:
            ping()
            found = Check(name)
        except ScrapetrackError as exc:
            found = Check(name, _one_line(exc.message))
        except Exception as exc:  # a driver's own error that no layer converted
            found = Check(name, _one_line(f"{type(exc).__name__}: {exc}"))
        with lock:
            results[name] = found

    threads = [threading.Thread(target=run, args=(name, ping), name=f"ready-{name}",
                                daemon=True) for name, ping in pings.items()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout  # one deadline for all: they run side by side
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return tuple(results.get(name) or Check(name, f"no answer within {timeout:g} s")
                     for name in pings)


def _one_line(message: str) -> str:
    """Drivers' messages span lines (psycopg adds hints on their own lines)."""
    return " ".join(message.split())
