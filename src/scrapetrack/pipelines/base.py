"""What pipelines and the runner share: how a job ended, where a run's reading stands."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from scrapetrack.jobs import RateSample, Status
from scrapetrack.providers.base import RunInfo, RunStatus

RATE_WINDOW_SECONDS = 10.0


class LostJob(Exception):
    """The job is no longer this worker's: cancelled, finished or taken over."""


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Status
    error: str | None = None


def run_outcome(run: RunInfo) -> Outcome:
    """What a finished Apify run means for the job."""
    message = run.status_message
    if run.status is RunStatus.SUCCEEDED:
        return Outcome(Status.COMPLETED)
    if run.status is RunStatus.TIMED_OUT:
        return Outcome(Status.TIMEOUT, f"The Apify run timed out: {message or 'no message'}")
    return Outcome(Status.ERROR,
                   f"The Apify run ended {run.status.value}: {message or 'no message'}")


@dataclass(slots=True)
class Cursor:
    """Where a worker is in a run's dataset; it moves only after a page is committed."""

    offset: int
    processed: int
    started: float
    last_news: float
    samples: deque[RateSample]
    draining: bool = False  # the last page was full: more items are known to be waiting
    done: bool = False  # the job holds all it asked for: read no further

    def advance(self, now: float, items: int, processed: int) -> None:
        self.offset += items
        self.processed = processed
        self.last_news = now
        self.samples.append(RateSample(now, processed))
        while len(self.samples) > 2 and self.samples[0].at < now - RATE_WINDOW_SECONDS:
            self.samples.popleft()
