"""The campaigns a routing bus follows: counted as the hub asks, reconciled by `listen`.

`follow` and `unfollow` only count and wake the listen task; that task alone talks to the
broker, and subscribes to what is wanted when it looks, not to the calls in their order. So a
campaign unfollowed and followed again before the task ran stays subscribed, and the calls
never wait for the broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Subscriptions:
    """One connection's side: the campaigns it has asked the broker for, and which campaigns
    changed since it last looked (`wake` is set when some did)."""

    def __init__(self, follows: Follows) -> None:
        self._follows = follows
        self._held: set[str] = set()
        self._changed: set[str] = set()
        self.wake = asyncio.Event()

    def everything(self) -> list[str]:
        """On a new connection: every campaign followed, all to be subscribed."""
        self.wake.clear()
        self._changed.clear()
        self._held = set(self._follows.counts)
        return list(self._held)

    def changes(self) -> tuple[list[str], list[str]]:
        """(to subscribe, to unsubscribe) since the last look, counted as done."""
        self.wake.clear()
        added, dropped = [], []
        for campaign_id in self._changed:
            if campaign_id in self._follows.counts:
                if campaign_id not in self._held:
                    self._held.add(campaign_id)
                    added.append(campaign_id)
            elif campaign_id in self._held:
                self._held.discard(campaign_id)
                dropped.append(campaign_id)
        self._changed.clear()
        return added, dropped

    def note(self, campaign_id: str) -> None:
        self._changed.add(campaign_id)
        self.wake.set()


class Follows:
    """How many times each campaign is followed, and the connections to tell of a change."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._connections: set[Subscriptions] = set()

    def add(self, campaign_id: str) -> None:
        count = self.counts.get(campaign_id, 0)
        self.counts[campaign_id] = count + 1
        if not count:
            self._changed(campaign_id)

    def discard(self, campaign_id: str) -> None:
        count = self.counts.get(campaign_id, 0)
        if count > 1:
            self.counts[campaign_id] = count - 1
        elif count:
            del self.counts[campaign_id]
            self._changed(campaign_id)

    @contextmanager
    def subscriptions(self) -> Iterator[Subscriptions]:
        """For one listen task, told of every change while it runs."""
        subscriptions = Subscriptions(self)
        self._connections.add(subscriptions)
        try:
            yield subscriptions
        finally:
            self._connections.discard(subscriptions)

    def _changed(self, campaign_id: str) -> None:
        for subscriptions in self._connections:
            subscriptions.note(campaign_id)
