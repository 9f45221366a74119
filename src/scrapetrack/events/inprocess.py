"""In-process bus: the worker runs inside the web process, so a notice is a function call."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from scrapetrack.events.base import RESYNC, Bus, Notice, _Resync


class InProcessBus(Bus):
    name = "inprocess"
    # Only this process's worker notifies; a separate worker is seen by the safety poll.
    safety_poll_seconds = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Notice]]] = []

    def publish(self, notice: Notice) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for loop, queue in listeners:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(queue.put_nowait, notice)

    async def listen(self) -> AsyncIterator[Notice | _Resync]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[Notice]())
        with self._lock:
            self._listeners.append(entry)
        try:
            yield RESYNC
            while True:
                yield await entry[1].get()
        finally:
            with self._lock:
                self._listeners.remove(entry)
