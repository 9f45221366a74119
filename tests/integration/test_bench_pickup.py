"""`python -m bench pickup` as `make bench` runs it, briefly: a real worker process (or `serve`
for QStash) per queue backend, jobs through the service, the summary table at the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABELS = ("Huey on SQLite", "Huey on Redis", "Huey on PostgreSQL", "QStash (stand-in)")

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_pickup_measures_every_queue_backend_and_the_suite_summarises_it(
        postgres_admin: str, redis_url: str, tmp_path: Path) -> None:
    results = tmp_path / "bench-results.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "pickup", "--results", str(results), "--",
         "--jobs", "4", "--interval", "0.1", "--settle", "0.2"],
        cwd=ROOT, capture_output=True, text=True, timeout=240)

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| Huey on")
             or line.startswith("| QStash")]
    assert [line.split(" | ")[0].lstrip("| ") for line in table] == list(LABELS)
    for line in table:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert cells[3] == "4 / 4", line  # every job picked up
        p50, p99, worst = (float(cell.replace(",", "")) for cell in cells[4:7])
        assert 0 < p50 <= p99 <= worst <= 1000, line
    summary = results.read_text()
    for label in LABELS:
        assert f"| pickup | {label}: p99 (created → processing) |" in summary
        p99_row = next(line for line in summary.splitlines()
                       if line.startswith(f"| pickup | {label}: p99"))
        assert p99_row.endswith("| PASS |"), p99_row
    # The fastest backend's p50 is its own baseline: ratio 1.
    assert "| 1.00x |" in summary
