"""Progress maths and status transitions."""

from __future__ import annotations

import pytest

from scrapetrack.jobs import (
    RateSample,
    Stage,
    Status,
    can_transition,
    eta_seconds,
    ingest_rate,
    keyword_progress,
    stage_progress,
)


@pytest.mark.parametrize(("processed", "target", "expected"), [
    (0, 200, 0), (1, 200, 0), (2, 200, 1), (99, 200, 49), (100, 200, 50), (199, 200, 99),
    (1, 3, 33), (2, 3, 66),
])
def test_keyword_progress_is_the_floor_of_the_share(processed: int, target: int,
                                                    expected: int) -> None:
    assert keyword_progress(processed, target) == expected


def test_keyword_progress_stays_below_100_until_completion() -> None:
    assert keyword_progress(200, 200) == 99
    assert keyword_progress(500, 200) == 99
    assert keyword_progress(5, 0) == 0


def test_stage_progress_follows_the_seed() -> None:
    assert [stage_progress(s) for s in Stage] == [0, 20, 40, 60, 80, 100]


def test_stage_progress_grows_within_a_countable_stage_without_reaching_the_next() -> None:
    assert stage_progress(Stage.SEARCHING, 0, 10) == 60
    assert stage_progress(Stage.SEARCHING, 5, 10) == 70
    assert stage_progress(Stage.SEARCHING, 10, 10) == 79
    assert stage_progress(Stage.PROCESSING, 3, 4) == 95


def test_transitions() -> None:
    assert can_transition(Status.PENDING, Status.PROCESSING)
    assert can_transition(Status.PROCESSING, Status.COMPLETED)
    assert can_transition(Status.PROCESSING, Status.PENDING)
    assert not can_transition(Status.COMPLETED, Status.PROCESSING)
    assert not can_transition(Status.CANCELLED, Status.ERROR)
    assert not can_transition(Status.PENDING, Status.COMPLETED)
    assert {s for s in Status if s.terminal} == {Status.COMPLETED, Status.ERROR,
                                                  Status.TIMEOUT, Status.CANCELLED}


def test_rate_and_eta() -> None:
    assert ingest_rate([RateSample(0.0, 0)]) is None
    rate = ingest_rate([RateSample(0.0, 0), RateSample(2.0, 50), RateSample(4.0, 100)])
    assert rate == 25.0
    assert eta_seconds(rate, 100, 200) == 4.0
    assert eta_seconds(None, 100, 200) is None
    assert eta_seconds(0.0, 100, 200) is None
    assert eta_seconds(25.0, 300, 200) == 0.0
