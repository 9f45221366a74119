"""The benchmark suite's summary: what benchmarks record, the table `python -m bench` prints,
and its verdict (exit 1 on a failed target or a failed benchmark, never on an aim)."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import bench.__main__ as suite
import pytest
from bench import _summary


@pytest.fixture(autouse=True)
def empty_summary() -> Iterator[None]:
    _summary.clear()
    yield
    _summary.clear()


@pytest.fixture
def fake_benchmark(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """A module `bench.<name>` whose main(argv) does what the test says."""
    real = suite.benchmarks()
    fakes: list[str] = []
    monkeypatch.setattr(suite, "benchmarks", lambda: sorted([*real, *fakes]))

    def make(name: str, main: Callable[[list[str]], int]) -> str:
        module = types.ModuleType(f"bench.{name}")
        module.main = main  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"bench.{name}", module)
        fakes.append(name)
        return name

    return make


def test_the_table_shows_every_recorded_figure_with_its_verdict() -> None:
    _summary.record("ingest", "sqlite: Store.ingest items/s", "80,000/s", "100,000/s (raw)",
                    0.8, "≥ 0.5x", True)
    _summary.record("fanout", "push CPU per delivery", "30 µs", "18 µs (bare | loop)", 1.67,
                    "≤ 1.5x", False, aim=True)
    _summary.record("chaos", "jobs lost", "1", target="0", ok=False)
    _summary.record("scale", "jobs per minute", "250", ratio=float("nan"))
    _summary.record("fanout", "push p99 at 1,000 watchers", "not run", target="≤ 100 ms")

    lines = _summary.table(_summary.rows()).splitlines()

    assert lines[0] == "| benchmark | figure | value | baseline | ratio | target | verdict |"
    assert lines[2] == ("| ingest | sqlite: Store.ingest items/s | 80,000/s | 100,000/s (raw) "
                        "| 0.80x | ≥ 0.5x | PASS |")
    # A pipe inside a cell is escaped, so the row keeps its columns.
    assert lines[3] == ("| fanout | push CPU per delivery | 30 µs | 18 µs (bare \\| loop) "
                        "| 1.67x | ≤ 1.5x | FAIL (aim) |")
    assert lines[4] == "| chaos | jobs lost | 1 |   |   | 0 | FAIL |"
    assert lines[5] == "| scale | jobs per minute | 250 |   |   |   | info |"
    assert lines[6] == "| fanout | push p99 at 1,000 watchers | not run |   |   | ≤ 100 ms | n/a |"
    assert [row.failed for row in _summary.rows()] == [False, False, True, False, False]


def test_the_suite_runs_each_benchmark_and_fails_on_a_failed_target(
        fake_benchmark: Callable[..., str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[list[str]] = []

    def passing(argv: list[str]) -> int:
        seen.append(argv)
        _summary.record("fake_ok", "ratio", "2.0/s", "1.0/s", 2.0, "≥ 1x", True)
        return 0

    def failing(argv: list[str]) -> int:
        seen.append(argv)
        _summary.record("fake_bad", "ratio", "0.5/s", "1.0/s", 0.5, "≥ 1x", False)
        return 0  # like fanout without --strict: the summary still says FAIL

    ok = fake_benchmark("fake_ok", passing)
    bad = fake_benchmark("fake_bad", failing)
    results = tmp_path / "out" / "bench-results.md"

    assert suite.main([ok, "--results", str(results), "--", "--quick"]) == 0
    assert suite.main([ok, bad, "--results", str(results), "--", "--quick"]) == 1

    assert seen == [["--quick"]] * 3
    out = capsys.readouterr().out
    assert "=== summary ===" in out
    written = results.read_text()
    assert "| fake_ok | ratio | 2.0/s | 1.0/s | 2.00x | ≥ 1x | PASS |" in written
    assert "| fake_bad | ratio | 0.5/s | 1.0/s | 0.50x | ≥ 1x | FAIL |" in written


def test_a_benchmark_that_fails_or_crashes_shows_in_the_summary_and_the_rest_still_run(
        fake_benchmark: Callable[..., str]) -> None:
    def exits_1(_argv: list[str]) -> int:
        return 1

    def crashes(_argv: list[str]) -> int:
        raise RuntimeError("the sandbox did not start")

    ran: list[str] = []

    def after(_argv: list[str]) -> int:
        ran.append("after")
        return 0

    names = [fake_benchmark("fake_a", exits_1), fake_benchmark("fake_b", crashes),
             fake_benchmark("fake_c", after)]

    assert suite.main([*names, "--no-results"]) == 1

    assert ran == ["after"]
    rows = {(row.benchmark, row.figure): row for row in _summary.rows()}
    assert rows[("fake_a", "exit status")].value == "1"
    assert rows[("fake_a", "exit status")].failed
    assert rows[("fake_b", "crashed")].value == "RuntimeError: the sandbox did not start"
    assert rows[("fake_b", "crashed")].failed


def test_an_aim_missed_does_not_fail_the_suite(fake_benchmark: Callable[..., str]) -> None:
    def aims_high(_argv: list[str]) -> int:
        _summary.record("fake_aim", "CPU per delivery", "30 µs", "18 µs", 1.67, "≤ 1.5x",
                        False, aim=True)
        return 0

    assert suite.main([fake_benchmark("fake_aim", aims_high), "--no-results"]) == 0


def test_an_unknown_benchmark_is_refused() -> None:
    assert suite.main(["no_such_benchmark", "--no-results"]) == 2
