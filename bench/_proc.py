"""Process set-up shared by the benchmark's processes: a core, enough descriptors, and death
with the parent (so a killed benchmark never leaves servers or clients behind)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal

PR_SET_PDEATHSIG = 1


def pin(core: int) -> None:
    """Run this process (and the threads it starts later) on one core, if it exists."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {core})


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: thousands of sockets per process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def die_with_parent() -> None:
    """Linux: SIGTERM this process when the one that started it exits."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def setup(core: int) -> int:
    die_with_parent()
    pin(core)
    return raise_nofile()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads included."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    # After the command name: state is field 3, so utime (14) and stime (15) are at 11, 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[str, int]:
    """Each live thread's CPU time in ns (/proc/.../schedstat): exact, where /proc/PID/stat
    counts in 10 ms ticks, 0.04 s/min over a 15 s window."""
    times = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                times[task] = int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
    return times


def cpu_between(before: dict[str, int], after: dict[str, int]) -> float:
    """Seconds of CPU between two thread_times(). A thread that ended in between is missing
    only its time since `before` (not what it had spent earlier, which a plain difference of
    sums would subtract); a thread started in between counts whole."""
    return sum(ns - before.get(task, 0) for task, ns in after.items()) / 1e9


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def core_busy(core: int) -> float:
    """Seconds core `core` has spent busy (any process, and the kernel) since boot."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{core} "):
                user, nice, system, _idle, _iowait, irq, softirq, steal = (
                    int(x) for x in line.split()[1:9])
                return (user + nice + system + irq + softirq + steal) / os.sysconf(
                    "SC_CLK_TCK")
    return 0.0
