"""Job statuses, their allowed transitions, and progress maths. Pure: no I/O."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class Status(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.COMPLETED, Status.ERROR, Status.TIMEOUT, Status.CANCELLED})

# processing → pending is a hand-back (graceful stop, takeover); never out of a terminal state.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.PROCESSING, Status.ERROR, Status.TIMEOUT,
                               Status.CANCELLED}),
    Status.PROCESSING: frozenset({Status.PENDING, Status.COMPLETED, Status.ERROR,
                                  Status.TIMEOUT, Status.CANCELLED}),
}


def can_transition(current: Status, new: Status) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


class JobRecord(Protocol):
    """A job's state as read: a mapped ScrapingJob, or a plain row where reads must be cheap
    (the hub's). Both carry the same attribute names."""

    @property
    def id(self) -> str: ...
    @property
    def campaign_id(self) -> str: ...
    @property
    def workspace_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def progress(self) -> int: ...
    @property
    def processed_results(self) -> int: ...
    @property
    def target_results(self) -> int: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def platform(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def keywords(self) -> list[str] | None: ...
    @property
    def target_username(self) -> str | None: ...
    @property
    def stage(self) -> str: ...
    @property
    def stage_state(self) -> dict[str, Any] | None: ...
    @property
    def creators_count(self) -> int: ...
    @property
    def skipped_items(self) -> int: ...
    @property
    def rate_per_second(self) -> float | None: ...
    @property
    def apify_run_id(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def items_offset(self) -> int: ...
    @property
    def cost_usd(self) -> float | None: ...
    @property
    def budget_usd(self) -> float | None: ...
    @property
    def run_status_message(self) -> str | None: ...
    @property
    def console_url(self) -> str | None: ...
    @property
    def schedule_id(self) -> str | None: ...
    @property
    def scheduled_for(self) -> datetime | None: ...


class Stage(enum.StrEnum):
    """The original design's similar-creators stages, in order; keyword jobs use them too for
    display."""

    INITIALIZING = "initializing"
    FETCHING_PROFILE = "fetching_profile"
    ANALYZING = "analyzing"
    SEARCHING = "searching"
    PROCESSING = "processing"
    COMPLETED = "completed"


STAGES = tuple(Stage)


def keyword_progress(processed: int, target: int) -> int:
    """floor(processed / target * 100), held below 100 until the job is completed."""
    if target <= 0:
        return 0
    return min(99, math.floor(processed * 100 / target))


def stage_progress(stage: Stage, done: int = 0, total: int = 0) -> int:
    """The original design's stage percentage, finer within a stage where the work is countable."""
    index = STAGES.index(stage)
    base = math.floor(index * 100 / (len(STAGES) - 1))
    if stage is Stage.COMPLETED:
        return 100
    span = math.floor((index + 1) * 100 / (len(STAGES) - 1)) - base
    within = math.floor(span * min(done, total) / total) if total > 0 else 0
    return min(99, base + min(within, span - 1))


@dataclass(frozen=True, slots=True)
class RateSample:
    at: float
    processed: int


def ingest_rate(samples: Sequence[RateSample]) -> float | None:
    """Items per second between the first and last sample; None until there are two."""
    if len(samples) < 2 or samples[-1].at <= samples[0].at:
        return None
    return (samples[-1].processed - samples[0].processed) / (samples[-1].at - samples[0].at)


def eta_seconds(rate: float | None, processed: int, target: int) -> float | None:
    """Seconds left to reach the target at the current rate."""
    if not rate or rate <= 0:
        return None
    return max(0.0, (target - processed) / rate)
