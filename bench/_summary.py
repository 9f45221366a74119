"""The summary: each benchmark records its headline figures here, and `python -m bench` prints
them all in one table at the end (a benchmark run alone prints its own rows)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import NamedTuple, NoReturn


class Row(NamedTuple):
    benchmark: str
    figure: str
    value: str  # formatted by the benchmark, units included
    baseline: str  # what the value is measured against, in the same run; "" if nothing
    ratio: float | None  # value / baseline
    target: str  # e.g. "≥ 0.5x"; "" for a figure shown for information
    ok: bool | None  # None: no target, or not judged in this run


ROWS: list[Row] = []


def record(benchmark: str, figure: str, value: str, baseline: str = "",
           ratio: float | None = None, target: str = "", ok: bool | None = None) -> None:
    """Note one figure for the summary table."""
    finite = ratio if ratio is not None and math.isfinite(ratio) else None
    ROWS.append(Row(benchmark, figure, value, baseline, finite, target, ok))


def table(rows: list[Row]) -> str:
    """A Markdown table: benchmark, figure, value, baseline, ratio, target, verdict."""
    lines = ["| benchmark | figure | value | baseline | ratio | target | verdict |",
             "| --- | --- | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        verdict = ("n/a" if row.target else "info") if row.ok is None else \
            "PASS" if row.ok else "FAIL"
        cells = [*row[:4], "" if row.ratio is None else f"{row.ratio:.2f}x", row.target, verdict]
        lines.append("| " + " | ".join(c.replace("|", "\\|") or " " for c in cells) + " |")
    return "\n".join(lines)


def alone(main: Callable[[list[str]], None]) -> NoReturn:
    """`python -m bench.NAME`: the benchmark, then the rows it recorded; exit 1 if one failed."""
    main(sys.argv[1:])
    print(f"\n{table(ROWS)}")
    sys.exit(int(any(row.ok is False for row in ROWS)))
