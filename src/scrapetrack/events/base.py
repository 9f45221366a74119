"""The bus seam. A notice only wakes readers; the store stays the truth.

A hub that missed notices (a reconnect, a dropped message) catches up from the store: every bus
delivers `RESYNC` after it (re)connects, and the hub also re-reads on its own every
`safety_poll_seconds`, which for the polling bus is the whole mechanism.

A bus that routes by campaign (Redis, PostgreSQL) carries only the notices of the campaigns the
hub follows, so a job nobody watches costs a web process nothing. Its subscription to a newly
followed campaign goes live a little after `follow()`; what changed before that is caught up by
the `Resync(campaign_id)` it delivers once the broker confirms the subscription.

Notices are handed to a callback, not yielded: a change then costs the web process one turn of
its event loop, from the socket to the frames written, with no task switch in between.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final


@dataclass(frozen=True, slots=True)
class Notice:
    job_id: str
    campaign_id: str
    version: int

    def encode(self) -> str:
        return f"{self.job_id} {self.campaign_id} {self.version}"

    @classmethod
    def decode(cls, raw: str | bytes) -> Notice | None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        parts = text.split(" ")
        if len(parts) != 3 or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]))


@dataclass(frozen=True, slots=True)
class Resync:
    """Notices may have been missed: re-read every watched job of `campaign_id`, or every
    watched job when it is None."""

    campaign_id: str | None = None

    def __repr__(self) -> str:
        return "RESYNC" if self.campaign_id is None else f"RESYNC({self.campaign_id})"


RESYNC: Final = Resync()
"""Delivered by `listen()` after each (re)connect: re-read every watched job."""

Deliver = Callable[[Notice | Resync], None]


class Bus(ABC):
    name: ClassVar[str]
    # Whether `listen` carries only the notices of followed campaigns (else every notice).
    routes_by_campaign: ClassVar[bool] = False
    # How often a hub re-reads its watched jobs without being woken (the safety net).
    safety_poll_seconds: float = 5.0

    @abstractmethod
    def publish(self, notice: Notice) -> None:
        """Say a job changed. Thread-safe; never raises (a lost notice costs latency only)."""

    def publish_many(self, notices: Sequence[Notice]) -> None:
        """Say several jobs changed, in this order; a broker that can takes them in one round
        trip. Thread-safe; never raises."""
        for notice in notices:
            self.publish(notice)

    @abstractmethod
    async def listen(self, deliver: Deliver) -> None:
        """Call `deliver` with the notices from every process (of the followed campaigns
        only, if the bus routes by campaign), on the event loop's thread, until cancelled;
        reconnect by itself, subscribe again to every followed campaign, then deliver
        RESYNC. `deliver` must not block: it runs inside the loop's turn that received the
        notice."""

    def follow(self, campaign_id: str) -> None:  # noqa: B027 - optional hook
        """Carry this campaign's notices too, from its subscription's confirmation on, which
        `listen` marks by delivering `Resync(campaign_id)`. Calls are counted, each undone by
        one `unfollow`. On the listening loop's thread; never blocks."""

    def unfollow(self, campaign_id: str) -> None:  # noqa: B027 - optional hook
        """Undo one `follow`: the campaign's notices stop once no follow of it is left."""

    def ping(self) -> None:  # noqa: B027 - optional hook
        """One round trip to the broker (readiness.py); Unavailable when it does not answer.
        A bus with nothing to reach (in-process, polling) is always there."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
