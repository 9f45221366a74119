"""Worker side: at most one notice per job per interval, leading edge plus trailing flush.

A run can yield pages faster than anyone can watch; watchers want the latest state a few
times a second, and brokers (Redis readers, PostgreSQL's NOTIFY lock) want few messages. A
notice that comes too soon waits only until its job's interval is up, never longer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from scrapetrack.events.base import Bus, Notice


class CoalescingPublisher:
    def __init__(self, bus: Bus, interval: float = 0.1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        # A little slack under the nominal interval: a source that changes exactly at the
        # interval (a run paged every 0.1 s) must not phase-lock onto the trailing flush and
        # be a whole interval late every time.
        self.interval = interval * 0.8
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._pending: dict[str, Notice] = {}
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._flush_loop, name="notice-flush",
                                        daemon=True)
        self._thread.start()

    def publish(self, *notices: Notice, final: bool = False) -> None:
        """Send each notice now if its job has been quiet for an interval (or this is its
        last notice); otherwise keep it, replacing any older one, until the interval is up.
        Those sent now go to the bus together."""
        now = self.clock()
        send: list[Notice] = []
        with self._lock:
            for notice in notices:
                last = self._last.get(notice.job_id)
                if final or last is None or now - last >= self.interval:
                    send.append(notice)
                    self._pending.pop(notice.job_id, None)
                    if final:
                        self._last.pop(notice.job_id, None)
                    else:
                        self._last[notice.job_id] = now
                else:
                    self._pending[notice.job_id] = notice
                    self._wake.set()
        if send:
            self.bus.publish_many(send)

    def _flush_loop(self) -> None:
        while not self._closed:
            with self._lock:
                due_at = min((self._last.get(job_id, 0.0) + self.interval
                              for job_id in self._pending), default=None)
                if due_at is None:
                    self._wake.clear()
            if due_at is None:
                self._wake.wait()
                continue
            delay = due_at - self.clock()
            if delay > 0:
                time.sleep(delay)
            now = self.clock()
            due: list[Notice] = []
            with self._lock:
                for job_id in list(self._pending):
                    if now - self._last.get(job_id, 0.0) >= self.interval or self._closed:
                        due.append(self._pending.pop(job_id))
                        self._last[job_id] = now
            if due:
                self.bus.publish_many(due)

    def close(self) -> None:
        """Send what is still pending and stop."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=5)
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        if pending:
            self.bus.publish_many(pending)
