"""Run every benchmark module of this package in turn: `python -m bench [NAME ...] [-- ARGS]`.

With names, only those benchmarks run; ARGS after `--` go to each one's `main(argv)`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def benchmarks() -> list[str]:
    """Public modules of this package, in name order."""
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here])
                  if not m.name.startswith("_") and not m.ispkg)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    passed: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, passed = args[:at], args[at + 1:]
    names = args or benchmarks()
    unknown = sorted(set(names) - set(benchmarks()))
    if unknown:
        print(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(benchmarks())})",
              file=sys.stderr)
        return 2
    failed: list[str] = []
    for name in names:
        module = importlib.import_module(f"{__package__}.{name}")
        run = getattr(module, "main", None)
        if not callable(run):
            continue
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = run(passed)  # each benchmark's main(argv) parses its own options
        print(f"=== bench.{name}: {time.monotonic() - started:.0f} s, exit {code or 0} ===",
              flush=True)
        if code:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
