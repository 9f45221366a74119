"""The suite's summary: each benchmark records its headline figures here as it reports them,
and `python -m bench` prints them all in one table at the end (and writes it to a file).

A benchmark run alone records too, but prints nothing more than it always did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    benchmark: str
    figure: str
    value: str  # formatted by the benchmark, units included
    baseline: str  # what the value is measured against, in the same run; "" if nothing
    ratio: float | None  # value / baseline as the benchmark defines it
    target: str  # e.g. "≥ 0.5x"; "" for a figure shown for information
    ok: bool | None  # None: no target, or not measured in this run
    aim: bool = False  # a goal to move towards: shown, but never fails the suite

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "n/a" if self.target else "info"
        word = "PASS" if self.ok else "FAIL"
        return f"{word} (aim)" if self.aim else word

    @property
    def failed(self) -> bool:
        return self.ok is False and not self.aim


_rows: list[Row] = []


def record(benchmark: str, figure: str, value: str, baseline: str = "",
           ratio: float | None = None, target: str = "", ok: bool | None = None, *,
           aim: bool = False) -> Row:
    """Note one figure for the summary table."""
    if ratio is not None and not math.isfinite(ratio):
        ratio = None
    row = Row(benchmark, figure, value, baseline, ratio, target, ok, aim)
    _rows.append(row)
    return row


def rows() -> list[Row]:
    return list(_rows)


def clear() -> None:
    _rows.clear()


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def table(recorded: list[Row]) -> str:
    """A Markdown table: benchmark, figure, value, baseline, ratio, target, verdict."""
    lines = ["| benchmark | figure | value | baseline | ratio | target | verdict |",
             "| --- | --- | ---: | ---: | ---: | --- | --- |"]
    for row in recorded:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
        lines.append("| " + " | ".join(_cell(c) for c in (
            row.benchmark, row.figure, row.value, row.baseline, ratio, row.target,
            row.verdict)) + " |")
    return "\n".join(lines)
