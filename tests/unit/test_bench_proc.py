"""The benchmarks' CPU reading: exact per thread, and fair to threads that come and go."""

from __future__ import annotations

import os
import time

from bench._proc import cpu_between, thread_times


def test_a_thread_that_ended_loses_only_its_time_in_the_window() -> None:
    before = {"1": 100, "2": 5_000}  # thread 2 had spent 5 µs, then ended
    after = {"1": 300, "3": 20}  # thread 3 started meanwhile
    assert cpu_between(before, after) == (200 + 20) / 1e9


def test_this_process_is_seen_spending_cpu() -> None:
    before = thread_times(os.getpid())
    assert str(os.getpid()) in before  # the main thread's id is the process's
    deadline = time.thread_time() + 0.05
    while time.thread_time() < deadline:  # 50 ms of CPU, not of waiting
        pass
    assert cpu_between(before, thread_times(os.getpid())) >= 0.04
