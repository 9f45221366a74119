"""In-process bus: the worker runs inside the web process, so a notice is a function call."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from scrapetrack.events.base import RESYNC, Bus, Deliver, Notice


class InProcessBus(Bus):
    name = "inprocess"
    # Only this process's worker notifies; a separate worker is seen by the safety poll.
    safety_poll_seconds = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[tuple[asyncio.AbstractEventLoop, Deliver]] = []

    def publish(self, notice: Notice) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for loop, deliver in listeners:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(deliver, notice)

    async def listen(self, deliver: Deliver) -> None:
        loop = asyncio.get_running_loop()
        entry = (loop, deliver)
        with self._lock:
            self._listeners.append(entry)
        try:
            deliver(RESYNC)
            await loop.create_future()  # until cancelled: publish() does the rest
        finally:
            with self._lock:
                self._listeners.remove(entry)
