"""The one scheduler of a process's periodic work (the reaper), owned by the runtime: a
thread that runs each function about every so many seconds while the worker runs. The
queues only enqueue and consume."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Periodic:
    seconds: float
    name: str
    run: Callable[[], object]
    due: float = 0.0


class Scheduler:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._work: list[_Periodic] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, seconds: float, name: str, run: Callable[[], object]) -> None:
        """Run `run` about every `seconds` (at least 1) once started; the first time one
        period after the start."""
        self._work.append(_Periodic(max(1.0, seconds), name, run))

    def start(self) -> None:
        if self._thread is not None or not self._work:
            return
        self._stop.clear()
        for work in self._work:
            work.due = self.clock() + work.seconds
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            for work in self._work:
                if self.clock() < work.due:
                    continue
                work.due = self.clock() + work.seconds
                try:
                    work.run()
                except Exception:  # the next period tries again
                    log.exception("periodic %s failed", work.name)
            wait = min(work.due for work in self._work) - self.clock()
            self._stop.wait(max(0.05, wait))
