"""Run every benchmark module of this package in turn, then one summary table of the figures
they recorded: `python -m bench [NAME ...] [--results FILE] [-- ARGS]`.

With names, only those benchmarks run; ARGS after `--` go to each one's `main(argv)` (all of
them take `--quick`). The summary (benchmark, figure, value, baseline, ratio, target, verdict)
is printed at the end and written to test-artifacts/bench-results.md (or FILE). Exit 1 if any
target fails or any benchmark fails or crashes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from bench import _summary

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-artifacts" / "bench-results.md"
# A full run's summary also goes into the manual, between these markers.
MANUAL = ROOT / "docs" / "performance.md"
MARKERS = ("<!-- bench-summary:start -->", "<!-- bench-summary:end -->")
INTERRUPTED = 130


def benchmarks() -> list[str]:
    """Public modules of this package, in name order."""
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here])
                  if not m.name.startswith("_") and not m.ispkg)


def run_one(name: str, passed: list[str]) -> int:
    """One benchmark's main(argv); a crash is reported and recorded, not raised."""
    before = len(_summary.rows())
    print(f"\n=== bench.{name} ===", flush=True)
    started = time.monotonic()
    try:
        module = importlib.import_module(f"{__package__}.{name}")
        run = getattr(module, "main", None)
        if not callable(run):
            return 0
        code = int(run(passed) or 0)  # each benchmark's main(argv) parses its own options
    except SystemExit as exc:  # argparse, on an option this benchmark does not take
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # one broken benchmark must not hide the others' figures
        traceback.print_exc()
        _summary.record(name, "crashed", f"{type(exc).__name__}: {exc}"[:120], ok=False)
        return 1
    print(f"=== bench.{name}: {time.monotonic() - started:.0f} s, exit {code} ===",
          flush=True)
    mine = _summary.rows()[before:]
    if code and code != INTERRUPTED and not any(row.failed for row in mine):
        # The benchmark said it failed without a failing figure: the summary says so too.
        _summary.record(name, "exit status", str(code), target="0", ok=False)
    return code


def report(names: list[str], passed: list[str], results: Path | None, seconds: float) -> str:
    head = (f"bench: {', '.join(names)}{' ' + ' '.join(passed) if passed else ''}; "
            f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, "
            f"{seconds:.0f} s")
    text = f"{head}\n\n{_summary.table(_summary.rows())}\n"
    if results is not None:
        try:
            results.parent.mkdir(parents=True, exist_ok=True)
            results.write_text(f"# Benchmark summary\n\n{text}")
        except OSError as exc:
            print(f"could not write {results}: {exc}", file=sys.stderr)
        else:
            text += f"\n(written to {results})\n"
    return text


def into_manual(summary: str) -> None:
    """Put a full run's summary into docs/performance.md, in place of the last one."""
    page = MANUAL.read_text()
    start, end = page.find(MARKERS[0]), page.find(MARKERS[1])
    if start < 0 or end < start:
        print(f"{MANUAL} has no summary markers: not written", file=sys.stderr)
        return
    MANUAL.write_text(f"{page[:start + len(MARKERS[0])]}\n{summary}\n{page[end:]}")
    print(f"(and into {MANUAL.relative_to(ROOT)})")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    passed: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, passed = args[:at], args[at + 1:]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default all: {', '.join(benchmarks())})")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help=f"where the summary is written (default {RESULTS})")
    parser.add_argument("--no-results", action="store_true", help="do not write the summary")
    options = parser.parse_args(args)
    names = options.names or benchmarks()
    unknown = sorted(set(names) - set(benchmarks()))
    if unknown:
        print(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(benchmarks())})",
              file=sys.stderr)
        return 2
    began = time.monotonic()
    _summary.clear()
    failed: list[str] = []
    for name in names:
        code = run_one(name, passed)
        if code:
            failed.append(name)
        if code == INTERRUPTED:
            break
    print("\n=== summary ===\n", flush=True)
    text = report(names, passed, None if options.no_results else options.results,
                  time.monotonic() - began)
    print(text)
    if not options.names and not passed and not options.no_results:
        into_manual(text.split("\n(written to")[0].rstrip())
    return 1 if failed or any(row.failed for row in _summary.rows()) else 0


if __name__ == "__main__":
    sys.exit(main())
