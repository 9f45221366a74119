"""The provider seam: start a run, watch it, page through its items, abort it.

The worker speaks only this interface; `apify.py` implements it with apify-client, which talks
to the real Apify API or to our sandbox. Each call comes twice: blocking (the service, the
CLI) and as a coroutine (the worker's event loop, where hundreds of runs wait on no thread).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


class RunStatus(enum.StrEnum):
    READY = "READY"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMING_OUT = "TIMING-OUT"
    TIMED_OUT = "TIMED-OUT"
    ABORTING = "ABORTING"
    ABORTED = "ABORTED"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT,
                        RunStatus.ABORTED)


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    dataset_id: str
    status: RunStatus
    status_message: str | None = None
    usage_usd: float | None = None  # what the run has cost so far, where the platform says


@dataclass(frozen=True, slots=True)
class RunCaps:
    """What a run may cost at most: the items charged for, and the total charge."""

    max_items: int | None = None
    max_charge_usd: float | None = None


NO_CAPS = RunCaps()


@dataclass(frozen=True, slots=True)
class ItemsPage:
    items: list[dict[str, Any]]
    offset: int
    total: int


class Provider(ABC):
    """A scraping platform. Every method raises only `ProviderError` subclasses."""

    @abstractmethod
    def start(self, actor_id: str, run_input: dict[str, Any],
              caps: RunCaps = NO_CAPS) -> RunInfo:
        """Start a run of `actor_id`, capped at `caps`, and return at once."""

    @abstractmethod
    def get_run(self, run_id: str, wait_seconds: float = 0) -> RunInfo:
        """The run's state, waiting up to `wait_seconds` for it to finish."""

    @abstractmethod
    def items_page(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        """Up to `limit` items from `offset`, in the dataset's order."""

    @abstractmethod
    def abort(self, run_id: str) -> None:
        """Abort the run; harmless when it has already finished."""

    @abstractmethod
    async def start_async(self, actor_id: str, run_input: dict[str, Any],
                          caps: RunCaps = NO_CAPS) -> RunInfo:
        """`start`, on the caller's event loop."""

    @abstractmethod
    async def get_run_async(self, run_id: str) -> RunInfo:
        """The run's state now, on the caller's event loop."""

    @abstractmethod
    async def items_page_async(self, dataset_id: str, offset: int, limit: int) -> ItemsPage:
        """`items_page`, on the caller's event loop."""

    @abstractmethod
    async def abort_async(self, run_id: str) -> None:
        """`abort`, on the caller's event loop."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release the connections of the coroutines, on the loop that used them."""
