"""What the benchmarks share: child processes that die with the bench, CPU and memory read
from /proc, fresh databases, the product's runtime, a stack of sandbox, store and workers, and
the summary: each benchmark records its headline figures here, and `python -m bench` prints
them all in one table at the end (a benchmark run alone prints its own rows)."""

import argparse
import contextlib
import json
import math
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import psycopg
import redis

from scrapetrack.access import Actor
from scrapetrack.config import Settings, load_settings
from scrapetrack.runtime import build_runtime
from scrapetrack.sandbox import create_sandbox_app
from scrapetrack.service import SearchRequest
from scrapetrack.serving import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
PG, REDIS = "postgres@127.0.0.1:5432", "redis://127.0.0.1:6379/0"
ADMIN = f"postgresql://{PG}/postgres"  # a database to create and drop others from
SCRAPETRACK = str(Path(sys.executable).with_name("scrapetrack"))
TERMINAL = frozenset({"completed", "error", "timeout", "cancelled"})
# A parent-death signal for the child, then exec (same pid): a killed bench leaves no process.
EXEC = ("import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGKILL); "
        "os.execv(sys.argv[1], sys.argv[1:])")


def parser(doc: str | None, quick: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=quick)
    return p


class Proc(contextlib.AbstractContextManager["Proc", None]):
    """A child process (`python ARGV`, or SCRAPETRACK's), its output in a log file."""

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        # The shell's settings must not reach a run's processes: each run sets its own.
        known = {(f.alias or name).upper() for name, f in Settings.model_fields.items()}
        environ = {k: v for k, v in os.environ.items() if k.upper() not in known}
        self.log, self.seen = log, 0
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", EXEC, *([] if argv[0] == SCRAPETRACK else [sys.executable]),
                 *argv], cwd=log.parent, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                env={**environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})})

    def __exit__(self, *_: object) -> None:
        self.stop()

    def expect(self, word: str, timeout: float) -> str:
        """What follows `word` in the next line of output that has it."""
        deadline = time.monotonic() + timeout
        while True:
            ended = self.popen.poll() is not None
            lines = self.log.read_bytes().split(b"\n")[self.seen:-1]  # whole lines only
            for i, line in enumerate(lines):
                if word.encode() in line:
                    self.seen += i + 1
                    return line.decode().partition(word)[2].strip()
            self.seen += len(lines)
            if ended or time.monotonic() > deadline:
                why = f"exited {self.popen.returncode}" if ended else f"none in {timeout:.0f} s"
                log = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.log.stem}: no {word!r}, {why}:\n{log}")
            time.sleep(0.005)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (none once it has ended), then SIGKILL after `grace` seconds."""
        self.popen.terminate()
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def cpu_time(pid: int) -> float:
    """utime + stime of a process, all its threads included (ended ones too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[str, int]:
    """Each live thread's CPU time in ns (schedstat): exact, where /proc/PID/stat counts ticks."""
    times = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        with (contextlib.suppress(FileNotFoundError, ProcessLookupError),  # it ended
              open(f"/proc/{pid}/task/{task}/schedstat") as f):
            times[task] = int(f.read().split()[0])
    return times


def cpu_between(before: dict[str, int], after: dict[str, int]) -> float:
    """CPU seconds between two thread_times(): a thread that ended in between goes uncounted
    from `before` on, one started in between counts whole."""
    return sum(ns - before.get(task, 0) for task, ns in after.items()) / 1e9


def status(pid: int | str, key: str) -> int:
    """A number of /proc/PID/status: VmRSS or VmHWM (in bytes), Threads."""
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith(f"{key}:"))
    return int(line.split()[1]) * (1024 if line.rstrip().endswith("kB") else 1)


def busy_share(core: int) -> float:
    """The share of the next second that core `core` spends busy (any process, the kernel)."""
    def busy() -> int:
        with open("/proc/stat") as f:
            fields = next(line for line in f if line.startswith(f"cpu{core} ")).split()
        # user, nice, system, idle, iowait, irq, softirq, steal: all but idle and iowait
        return sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))

    before = busy()
    time.sleep(1.0)
    return (busy() - before) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now, for a process to serve on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def more_files() -> None:
    """This process's open-files limit raised to its hard limit (its children inherit it):
    hundreds of connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else math.nan


@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """The URL of a fresh, empty "sqlite" or "postgres" database, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'app-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG}/{name}"
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def runtime(bus: Any = None, **settings: Any) -> Any:
    """The product's runtime on these settings, migrated, without a worker: the bench's handle
    on the store and the service (one user starts every job here: no per-user limits)."""
    defaults = {"REDIS_URL": None, "EVENT_BUS": "auto", "SANDBOX_FAULTS": None,
                "JOB_RATE_LIMIT_PER_MINUTE": 0, "MAX_ACTIVE_JOBS_PER_USER": 0}
    return build_runtime(load_settings(**{**defaults, **settings}), migrate=True,
                         embedded_worker=False, bus=bus)


@contextlib.contextmanager
def sandbox_served(sandbox: dict[str, Any], log: Path | None = None) -> Iterator[tuple[str, Any]]:
    """The sandbox app on `sandbox`, served in a thread here: its URL and its state. With
    `log`, in a process of its own instead (this module run, on the wall clock: a run's start
    is seen as its `startedAt`), so that hundreds of runs' requests do not take this process's
    GIL: its URL, and None (its request log is read over HTTP)."""
    if log is None:
        app = create_sandbox_app(**sandbox)
        with serve_in_thread(app, lifespan=False) as url:
            yield url, app.state.sandbox  # type: ignore[attr-defined]
        return
    with Proc(["-m", "bench._proc", json.dumps(sandbox)], log) as proc:
        yield f"http://127.0.0.1:{proc.expect('SANDBOX', 60)}", None


@dataclass
class Stack:
    """A run's sandbox (in a thread, or a process), runtime here, and `scrapetrack`
    processes, on `env`."""

    tmp: Path
    env: dict[str, str]
    rt: Any
    sandbox: Any  # the sandbox's state, what it counted (None: its own process)
    actor: Actor
    campaign: Any
    procs: list[Proc] = field(default_factory=list)

    def spawn(self, *argv: str) -> Proc:
        """`scrapetrack ARGV` (`worker --concurrency C`, `serve ...`) on the run's settings."""
        log = self.tmp / f"{argv[0]}-{len(self.procs) + 1}.log"
        self.procs.append(Proc([SCRAPETRACK, *argv], log, self.env))
        return self.procs[-1]

    def start(self, keywords: list[str], target: int, campaign: str | None = None) -> str:
        """A TikTok keyword search (in the run's campaign, or `campaign`), started through
        the service as the API starts one."""
        return str(self.rt.service.start_search(self.actor, SearchRequest(
            "tiktok", campaign or self.campaign.id, keywords=keywords, target_results=target)).id)

    def wait(self, job_ids: list[str], seconds: float, every: float = 0.2,
             tick: Callable[[], object] = lambda: None) -> list[Any]:
        """The jobs' rows once all have ended, or at the deadline; `tick()` at every look."""
        deadline = time.monotonic() + seconds
        while True:
            rows = list(self.rt.store.job_states(job_ids))
            tick()
            if time.monotonic() > deadline or (len(rows) == len(job_ids) and all(
                    row.status in TERMINAL for row in rows)):
                return rows
            time.sleep(every)


@contextlib.contextmanager
def stack(tmp: Path, url: str, sandbox: dict[str, Any], **env: str) -> Iterator[Stack]:
    """A Stack on database `url`; `sandbox` configures the sandbox app (with `own_process`
    True: see sandbox_served); `env` adds settings."""
    tmp.mkdir(parents=True, exist_ok=True)
    sandbox = dict(sandbox)
    own_process = sandbox.pop("own_process", False)
    with sandbox_served(sandbox, tmp / "sandbox.log" if own_process else None) as (
            sandbox_url, state):
        env = {"DATABASE_URL": url, "QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}",  # Redis:
               "QUEUE_NAME": f"bench_{uuid.uuid4().hex[:12]}",  # a queue of this run's own
               "APIFY_API_URL": sandbox_url, "APIFY_TOKEN": "bench",
               "SCRAPETRACK_DATA_DIR": str(tmp / "var"), **env}
        # Tagged, so that a count of the workers' connections leaves this process's out.
        own = f"{url}?application_name=bench" if url.startswith("postgresql") else url
        rt = runtime(**{**env, "DATABASE_URL": own})
        user = rt.store.create_user("bench@example.com")
        actor = Actor(user.id, user.email)
        run = Stack(tmp, env, rt, state, actor, rt.service.create_campaign(actor, "bench", None))
        try:
            yield run
        finally:
            for proc in run.procs:
                proc.stop(30)
            rt.close()
            if env["QUEUE_URL"].startswith("redis"):  # every Huey key of the queue
                with redis.Redis.from_url(REDIS) as client:
                    for key in client.scan_iter(match=f"huey.*{env['QUEUE_NAME']}*"):
                        client.delete(key)


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
    finite = ratio if ratio is not None and math.isfinite(ratio) else None
    ROWS.append(Row(benchmark, figure, value, baseline, finite, target, ok))


def table(rows: list[Row]) -> str:
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


if __name__ == "__main__":  # sandbox_served's process: the sandbox on a free port, SANDBOX <port>
    import uvicorn

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(4096)  # connections wait in the backlog until uvicorn takes them
    app = create_sandbox_app(**json.loads(sys.argv[1]), clock=time.time)
    print(f"SANDBOX {listening.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(app, loop="uvloop", http="httptools", lifespan="off",
                                  log_level="warning", access_log=False, backlog=4096,
                                  timeout_graceful_shutdown=2)).run(sockets=[listening])
