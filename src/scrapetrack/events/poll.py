"""Polling bus: no messages at all; the hub re-reads its watched jobs every tick.

For SQLite with workers in other processes: one query per tick per web process, however many
jobs and watchers it has, and nothing to run besides the database file.
"""

from __future__ import annotations

import asyncio

from scrapetrack.events.base import RESYNC, Bus, Deliver, Notice


class PollBus(Bus):
    name = "poll"

    def __init__(self, interval: float = 0.25) -> None:
        self.safety_poll_seconds = interval

    def publish(self, notice: Notice) -> None:
        """Nothing to send: the readers look at the store."""

    async def listen(self, deliver: Deliver) -> None:
        deliver(RESYNC)
        await asyncio.get_running_loop().create_future()  # never: the hub's poll is all
