"""A workspace's monthly budget: the calendar month (UTC) a time falls in, what the month has
committed, what a new search may still charge, and the sentence that refuses one. Pure: the
store counts, this decides.

Committed this month = what deleted searches had cost (deleting gives nothing back) + what
ended searches cost + for each active search the larger of its cost so far and its own
budget, which it may still spend (Apify stops its runs there: `max_total_charge_usd`). A new
search's budget is what is left at most, so searches started at once can never together
pass the cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from scrapetrack.exceptions import InputError, OverBudget

# Less than this left, and no new search starts: a run that may charge a cent at most
# would stop before it found anything worth having.
MIN_SEARCH_USD = 0.01
MAX_MONTHLY_USD = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month in UTC: [start, end)."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"


def month_of(when: datetime) -> Month:
    when = when.astimezone(UTC)
    start = datetime(when.year, when.month, 1, tzinfo=UTC)
    end = datetime(when.year + when.month // 12, when.month % 12 + 1, 1, tzinfo=UTC)
    return Month(start, end)


@dataclass(frozen=True, slots=True)
class MonthSpend:
    """A workspace's month, as a new search would see it (amounts in USD)."""

    workspace_id: str
    month: Month
    cap: float | None  # None: no budget
    spent: float  # what its searches' runs cost so far, deleted searches included
    committed: float  # spent, plus what its active searches may still charge

    @property
    def remaining(self) -> float | None:
        if self.cap is None:
            return None
        return max(0.0, round(self.cap - self.committed, 6))

    @property
    def exhausted(self) -> bool:
        """Too little is left for a new search."""
        remaining = self.remaining
        return remaining is not None and remaining < MIN_SEARCH_USD


def usd(amount: float) -> str:
    """$50, $49.80, $0.0099: cents, or finer when a sum is smaller than a cent's worth."""
    whole, _, fraction = f"{amount:,.4f}".rstrip("0").partition(".")
    if not fraction:
        return f"${whole}"
    return f"${whole}.{fraction.ljust(2, '0')}"


def spent_message(spend: MonthSpend) -> str:
    assert spend.cap is not None
    return (f"This workspace's monthly budget of {usd(spend.cap)} is spent: "
            f"{usd(spend.committed)} committed this month (resets on "
            f"{spend.month.end:%Y-%m-%d} UTC)")


def new_search_budget(requested: float | None, spend: MonthSpend | None) -> float | None:
    """The most a new search may charge: its own budget (or MAX_CHARGE_USD_PER_SEARCH, as
    `requested`), lowered to what the month has left; OverBudget when that is below
    MIN_SEARCH_USD. A larger budgetUsd than is left is lowered, not refused: it is a ceiling,
    and the answer's budgetUsd shows the one in force."""
    remaining = None if spend is None else spend.remaining
    if spend is None or remaining is None:
        return requested
    if spend.exhausted:
        raise OverBudget(spent_message(spend))
    return remaining if requested is None else min(requested, remaining)


def check_cap(raw: object) -> float | None:
    """A monthly budget as given: a positive number of dollars, or None for no budget."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) \
            or not 0 < raw <= MAX_MONTHLY_USD:
        raise InputError("monthlyUsd must be a number of dollars above 0 (at most "
                         f"{MAX_MONTHLY_USD:,.0f}), or null for no budget")
    return round(float(raw), 6)
