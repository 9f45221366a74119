"""Cron and time zones as schedules read them: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scrapetrack.exceptions import InputError
from scrapetrack.schedules import check_cron, check_missed, check_timezone, next_time, previous_time


def test_cron_is_read_on_the_zones_wall_clock_across_dst() -> None:
    # Berlin moves from UTC+1 to UTC+2 on 30 March 2025: 09:00 local stays 09:00 local.
    before = next_time("0 9 * * *", "Europe/Berlin", datetime(2025, 3, 29, 12, tzinfo=UTC))
    after = next_time("0 9 * * *", "Europe/Berlin", before)
    assert before == datetime(2025, 3, 30, 7, tzinfo=UTC)  # already summer time
    assert after == datetime(2025, 3, 31, 7, tzinfo=UTC)
    assert next_time("0 9 * * *", "Europe/Berlin", datetime(2025, 3, 28, 12, tzinfo=UTC)) \
        == datetime(2025, 3, 29, 8, tzinfo=UTC)
    # 02:30 does not exist that night: the first valid time after it.
    assert next_time("30 2 * * *", "Europe/Berlin", datetime(2025, 3, 29, 23, tzinfo=UTC)) \
        == datetime(2025, 3, 30, 1, tzinfo=UTC)


def test_previous_and_next_are_strictly_before_and_after() -> None:
    at = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    assert previous_time("* * * * *", "UTC", at) == datetime(2025, 3, 1, 9, 59, tzinfo=UTC)
    assert next_time("* * * * *", "UTC", at) == datetime(2025, 3, 1, 10, 1, tzinfo=UTC)


def test_checks() -> None:
    assert check_cron("  0   9 * * 1 ") == "0 9 * * 1"
    assert check_cron("@daily") == "@daily"
    for bad in ("", "* * * *", "* * * * * *", "60 * * * *", "0 0 31 2 *", "x" * 121, None, 5):
        with pytest.raises(InputError):
            check_cron(bad)
    assert check_timezone(" Europe/Berlin ") == "Europe/Berlin"
    for zone in ("Mars/Olympus", "", "/etc/passwd", "../UTC", "UTC\x00"):
        with pytest.raises(InputError):
            check_timezone(zone)
    assert check_missed("skip") == "skip"
    with pytest.raises(InputError):
        check_missed("twice")
