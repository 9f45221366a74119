"""The runtime's one scheduler: each function about every period while started, a failure
logged and tried again next period, nothing once stopped."""

from __future__ import annotations

import threading

import pytest

from scrapetrack.scheduler import Scheduler
from tests.conftest import wait_until


def test_runs_each_function_every_period_until_stopped(
        caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Scheduler()
    ran: list[str] = []

    def fails() -> None:
        ran.append("fails")
        raise RuntimeError("the store is down")

    scheduler.every(1, "reap", lambda: ran.append("reap"))
    scheduler.every(0.1, "fails", fails)  # at least a second apart, whatever is asked
    assert ran == []
    scheduler.start()
    try:
        wait_until(lambda: ran.count("reap") >= 2 and ran.count("fails") >= 2, 10,
                   "two periods")
    finally:
        scheduler.stop()
    assert "periodic fails failed" in caplog.text
    assert not any(thread.name == "scheduler" for thread in threading.enumerate())
    scheduler.stop()  # twice is harmless
