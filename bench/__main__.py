"""`python -m bench [NAME ...] [--results FILE] [-- ARGS]`: the benchmarks in turn (each one's
`main(ARGS)`; all take `--quick`), then one table of their figures, also written to FILE and,
after a full run, into docs/performance.md. Exit 1 if a target or a benchmark fails."""

import argparse
import importlib
import os
import pkgutil
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path

from bench._proc import ROOT, ROWS, record, table

MANUAL, START, END = ROOT / "docs" / "performance.md", "<!-- bench-summary:start -->", \
    "<!-- bench-summary:end -->"
NAMES = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
               if not m.name.startswith("_"))


def run_one(name: str, passed: list[str]) -> None:
    """One benchmark's main(argv); a crash is reported and recorded, not raised."""
    before, started = len(ROWS), time.monotonic()
    print(f"\n=== bench.{name} ===", flush=True)
    try:
        importlib.import_module(f"bench.{name}").main(passed)
    except (Exception, SystemExit) as exc:  # one broken benchmark must not hide the others
        if not isinstance(exc, SystemExit) or exc.code:  # argparse exits 0 after --help
            traceback.print_exc()
            record(name, "crashed", f"{type(exc).__name__}: {exc}"[:120], ok=False)
    failed = any(row.ok is False for row in ROWS[before:])
    print(f"=== bench.{name}: {time.monotonic() - started:.0f} s, "
          f"{'FAILED' if failed else 'passed'} ===", flush=True)


def main(argv: list[str]) -> int:
    at = argv.index("--") if "--" in argv else len(argv)
    args, passed = argv[:at], argv[at + 1:]
    cli = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    cli.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(NAMES)}")
    cli.add_argument("--results", type=Path, default=ROOT / "test-artifacts" / "bench-results.md")
    options = cli.parse_args(args)
    if set(options.names) - set(NAMES):
        cli.error(f"no such benchmark: {', '.join(sorted(set(options.names) - set(NAMES)))}")
    names, began = options.names or NAMES, time.monotonic()
    for name in names:
        run_one(name, passed)
    text = (f"bench: {', '.join(names)}{' ' + ' '.join(passed) if passed else ''}; "
            f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs, "
            f"{time.monotonic() - began:.0f} s\n\n{table(ROWS)}\n")
    print(f"\n=== summary ===\n\n{text}")
    options.results.parent.mkdir(parents=True, exist_ok=True)
    options.results.write_text(f"# Benchmark summary\n\n{text}")
    page = MANUAL.read_text()
    if not options.names and not passed and START in page:  # a full run: into the manual
        head, _, rest = page.partition(START)
        MANUAL.write_text(f"{head}{START}\n{text.rstrip()}\n{END}{rest.partition(END)[2]}")
    return int(any(row.ok is False for row in ROWS))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
