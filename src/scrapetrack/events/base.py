"""The bus seam. A notice only wakes readers; the store stays the truth.

A hub that missed notices (a reconnect, a dropped message) catches up from the store: every bus
yields `RESYNC` after it (re)connects, and the hub also re-reads on its own every
`safety_poll_seconds`, which for the polling bus is the whole mechanism.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
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


class _Resync:
    def __repr__(self) -> str:
        return "RESYNC"


RESYNC: Final = _Resync()
"""Yielded by `listen()` when notices may have been missed: re-read every watched job."""


class Bus(ABC):
    name: ClassVar[str]
    # How often a hub re-reads its watched jobs without being woken (the safety net).
    safety_poll_seconds: float = 5.0

    @abstractmethod
    def publish(self, notice: Notice) -> None:
        """Say a job changed. Thread-safe; never raises (a lost notice costs latency only)."""

    @abstractmethod
    def listen(self) -> AsyncIterator[Notice | _Resync]:
        """Notices from every process, forever; reconnects by itself and yields RESYNC."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
