"""Scale: N concurrent sandbox jobs through 1 worker process, then (fresh database and queue)
through 2, side by side; the figures issue 5 (item 4) asks for, and the 2-vs-1 ratio.

    python -m bench.scale [--quick] [--jobs N] [--concurrency C] [--stack sqlite|postgres+redis]

Per run: worker CPU per job-minute, pickup latency (job created → started, from the store),
peak database connections, jobs completed per minute, peak worker RSS and threads. The run
fails (exit 1) unless every job of both runs completed.

Everything listens on 127.0.0.1. The sandbox and the monitor run in this process; jobs run only
in `scrapetrack worker --concurrency C` subprocesses. postgres+redis: a fresh PostgreSQL
database and a unique Huey queue name in Redis db 0 per run, both removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._proc import cpu_seconds, rss_bytes
from bench._summary import record
from bench.chaos import (
    EXEC_WITH_PDEATHSIG,
    PG_SERVER,
    TERMINAL,
    WORDS,
    Fleet,
    Worker,
    database,
    interrupt,
    scrapetrack_command,
)

REDIS_QUEUE = "redis://127.0.0.1:6379/0"
STACKS = ("postgres+redis", "sqlite")
SAMPLE_SECONDS = 0.5
READY_SECONDS = 60.0  # a worker's imports + migration check + consumer start
# Tags this process's own database connections, so the peak counts the workers' alone.
MONITOR_APP = "scale-bench"


# sampling ----------------------------------------------------------------------------------
def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """Every SAMPLE_SECONDS: each worker's CPU, RSS and threads, and (PostgreSQL) the
    database's connections that are not this process's own."""

    def __init__(self, pids: Sequence[int], database_name: str | None) -> None:
        super().__init__(name="scale-sampler", daemon=True)
        self.pids = list(pids)
        self.database_name = database_name
        self.halt = threading.Event()
        self.cpu: dict[int, float] = {}  # last reading: kept if the process has gone since
        self.peak_rss = 0
        self.peak_threads = 0
        self.peak_connections = 0
        self.errors: list[str] = []

    def sample(self) -> None:
        for pid in self.pids:
            with contextlib.suppress(OSError):  # gone: its last reading stands
                self.cpu[pid] = cpu_seconds(pid)
                self.peak_rss = max(self.peak_rss, rss_bytes(pid))
                self.peak_threads = max(self.peak_threads, threads(pid))

    def run(self) -> None:
        conn: Any = None
        if self.database_name is not None:
            import psycopg

            # Connected to the `postgres` database, so it is not among those counted.
            conn = psycopg.connect(f"postgresql://{PG_SERVER}/postgres", autocommit=True)
        try:
            while not self.halt.is_set():
                self.sample()
                if conn is not None:
                    try:
                        row = conn.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                            "AND application_name <> %s",
                            (self.database_name, MONITOR_APP)).fetchone()
                    except Exception as exc:  # a figure lost, not the run
                        self.errors.append(repr(exc))
                    else:
                        self.peak_connections = max(self.peak_connections, int(row[0]))
                self.halt.wait(SAMPLE_SECONDS)
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=10)


# one run -----------------------------------------------------------------------------------
@dataclass
class Result:
    workers: int
    concurrency: int
    jobs: int
    statuses: Counter[str]
    job_minutes: float
    wall_minutes: float
    worker_cpu: float
    harness_cpu: float
    pickup: list[float]  # seconds, one per job that started
    peak_connections: int | None
    peak_rss: int
    peak_threads: int
    api_requests: int  # answered by the sandbox: what each job's polling costs, all told
    takeovers: int  # Σ (attempts - 1): jobs a worker dropped and the reaper queued again
    tracebacks: int
    problems: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return self.statuses["completed"]

    @property
    def per_minute(self) -> float:
        return self.completed / self.wall_minutes if self.wall_minutes else 0.0

    @property
    def requests_per_job_minute(self) -> float:
        return self.api_requests / self.job_minutes if self.job_minutes else math.nan

    @property
    def cpu_per_job_minute(self) -> float:
        return self.worker_cpu / self.job_minutes if self.job_minutes else math.nan


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@contextlib.contextmanager
def redis_queue(name: str) -> Iterator[None]:
    """Remove every Huey key of queue `name` afterwards (queue, schedule, results, ...)."""
    try:
        yield
    finally:
        import redis

        client = redis.Redis.from_url(REDIS_QUEUE)
        try:
            keys = list(client.scan_iter(match=f"huey.*{name}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def wait_ready(worker: Worker, seconds: float = READY_SECONDS) -> None:
    """`scrapetrack worker` prints "worker … started" once its consumer runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"worker exited {worker.process.returncode}:\n"
                               + worker.log.read_text(errors="replace")[-2000:])
        if " started" in worker.log.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"worker not ready in {seconds:g} s:\n"
                       + worker.log.read_text(errors="replace")[-2000:])


def minutes(start: datetime | None, end: datetime | None) -> float:
    if start is None or end is None:
        return 0.0
    return (end - start).total_seconds() / 60


def run_once(args: argparse.Namespace, workers: int, tmp: Path) -> Result:
    from scrapetrack.config import load_settings
    from scrapetrack.runtime import build_runtime
    from scrapetrack.sandbox import create_sandbox_app
    from scrapetrack.service import SearchRequest
    from scrapetrack.serving import serve_in_thread

    # --concurrency 0: enough slots for every job in one wave (what one process can carry).
    concurrency = args.concurrency or math.ceil(args.jobs / workers) + 8  # + the reaper's turns
    logs = tmp / "logs"
    logs.mkdir(parents=True)
    postgres = args.stack == "postgres+redis"
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(database("postgres" if postgres else "sqlite", tmp))
        if postgres:
            queue_name = f"scale_{uuid.uuid4().hex[:12]}"
            # Entered before the workers start, so it runs after they are gone.
            stack.enter_context(redis_queue(queue_name))
            queue_url, redis_url = REDIS_QUEUE, REDIS_QUEUE
        else:
            queue_name, queue_url, redis_url = "scrapetrack", f"sqlite:///{tmp / 'queue.db'}", None
        app = create_sandbox_app(items_per_second=args.items_per_second,
                                 start_delay_seconds=args.start_delay)
        sandbox = app.state.sandbox  # type: ignore[attr-defined]
        url = stack.enter_context(serve_in_thread(app, lifespan=False))
        env = {"DATABASE_URL": database_url, "QUEUE_URL": queue_url, "QUEUE_NAME": queue_name,
               "APIFY_API_URL": url, "APIFY_TOKEN": "scale",
               "WORKER_POLL_INTERVAL_SECONDS": str(args.poll),
               "SCRAPETRACK_DATA_DIR": str(tmp / "var")}
        if redis_url:
            env["REDIS_URL"] = redis_url
        own_url = (f"{database_url}?application_name={MONITOR_APP}" if postgres
                   else database_url)
        # Settings read the environment too: keep this shell's backends out of the run.
        settings = load_settings(database_url=own_url, queue_url=queue_url,
                                 queue_name=queue_name, redis_url=redis_url,
                                 apify_api_url=url, apify_token="scale", event_bus="auto",
                                 sandbox_faults=None, WORKER_POLL_INTERVAL_SECONDS=args.poll,
                                 SCRAPETRACK_DATA_DIR=tmp / "var",
                                 # one user starts every job: lift the per-user limits
                                 JOB_RATE_LIMIT_PER_MINUTE=0, MAX_ACTIVE_JOBS_PER_USER=0)
        runtime = build_runtime(settings, migrate=True, embedded_worker=False)
        stack.callback(runtime.close)
        worker_env = {key: value for key, value in os.environ.items()
                      if key not in {"REDIS_URL", "EVENT_BUS", "SANDBOX_FAULTS",
                                     "JOB_TIMEOUT_SECONDS", "WORKER_CONCURRENCY",
                                     "WORKER_PAGE_SIZE", "MAX_TARGET_RESULTS",
                                     "HEARTBEAT_TIMEOUT_SECONDS", "STALL_TIMEOUT_SECONDS"}}
        worker_env.update(env)
        fleet = Fleet(worker_env, logs)
        stack.callback(fleet.kill_all)  # Ctrl-C or an exception: no worker outlives us
        # Not Fleet.spawn: its concurrency is chaos's fixed 8.
        for index in range(workers):
            log = logs / f"worker-{index + 1}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-c", EXEC_WITH_PDEATHSIG, scrapetrack_command(),
                     "worker", "--concurrency", str(concurrency)],
                    env=worker_env, cwd=logs, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT)
            fleet.live.append(Worker(process, log, time.monotonic()))
        for worker in fleet.live:
            wait_ready(worker)
        pids = [worker.process.pid for worker in fleet.live]
        # CPU from "ready" on: start-up (imports, migrations) is a fixed cost, not per job.
        baseline = {pid: cpu_seconds(pid) for pid in pids}
        harness_before = cpu_seconds(os.getpid())
        sampler = Sampler(pids, database_url.rpartition("/")[2] if postgres else None)
        sampler.start()
        stack.callback(sampler.stop)

        user = runtime.store.create_user("scale@example.com")
        campaign = runtime.service.create_campaign(user.id, "scale", None)
        job_ids: list[str] = []
        for index in range(args.jobs):
            # A job's dataset is seeded by its keywords: distinct keywords, distinct datasets.
            job = runtime.service.start_search(user.id, SearchRequest(
                platform="tiktok", campaign_id=campaign.id,
                keywords=[rng.choice(WORDS), f"scale{index}"],
                target_results=rng.randint(args.min_items, args.max_items)))
            job_ids.append(job.id)

        deadline = time.monotonic() + args.seconds
        rows = runtime.store.job_states(job_ids)
        while time.monotonic() < deadline:
            rows = runtime.store.job_states(job_ids)
            if len(rows) == len(job_ids) and all(row.status in TERMINAL for row in rows):
                break
            exited = [w.log.name for w in fleet.live if w.process.poll() is not None]
            if exited:
                raise RuntimeError(f"worker(s) exited mid-run: {', '.join(exited)}")
            time.sleep(1.0)
        sampler.sample()  # the CPU figures as of the last job's end, before the stop
        worker_cpu = sum(sampler.cpu[pid] - baseline[pid] for pid in pids)
        harness_cpu = cpu_seconds(os.getpid()) - harness_before
        api_requests = sum(sandbox.requests.values())
        sampler.stop()
        fleet.stop()

        problems = [f"{row.id}: {row.status} ({row.last_error})" for row in rows
                    if row.status != "completed"]
        problems += [f"sampler: {error}" for error in sampler.errors[:3]]
        tracebacks = sum(path.read_text(errors="replace").count("Traceback")
                         for path in logs.glob("*.log"))
        if tracebacks:
            problems.append(f"{tracebacks} traceback(s) in worker logs under {logs}")
        started = [row for row in rows if row.started_at is not None]
        finished = [row.finished_at for row in rows if row.finished_at is not None]
        return Result(
            workers=workers, concurrency=concurrency, jobs=len(job_ids),
            statuses=Counter(row.status for row in rows),
            job_minutes=sum(minutes(row.started_at, row.finished_at) for row in started),
            wall_minutes=minutes(min(row.created_at for row in rows),
                                 max(finished) if finished else None),
            worker_cpu=worker_cpu, harness_cpu=harness_cpu,
            pickup=[(row.started_at - row.created_at).total_seconds() for row in started
                    if row.started_at is not None],
            peak_connections=sampler.peak_connections if postgres else None,
            peak_rss=sampler.peak_rss, peak_threads=sampler.peak_threads,
            api_requests=api_requests, takeovers=sum(max(0, row.attempts - 1) for row in rows),
            tracebacks=tracebacks, problems=problems)
    raise AssertionError("unreachable")  # the ExitStack does not swallow exceptions


# report ------------------------------------------------------------------------------------
def table(one: Result, two: Result) -> list[str]:
    def ratio(a: float, b: float) -> str:
        return f"{b / a:.2f}x" if a and not math.isnan(a) and not math.isnan(b) else "n/a"

    def conns(result: Result) -> str:
        return "n/a" if result.peak_connections is None else str(result.peak_connections)

    rows: list[tuple[str, str, str, str]] = [
        ("worker processes x `--concurrency`", f"1 x {one.concurrency}",
         f"2 x {two.concurrency}", ""),
        ("jobs completed / started", f"{one.completed} / {one.jobs}",
         f"{two.completed} / {two.jobs}", ""),
        ("**jobs completed per minute**", f"{one.per_minute:.1f}", f"{two.per_minute:.1f}",
         ratio(one.per_minute, two.per_minute)),
        ("wall time, first enqueue → last finish", f"{one.wall_minutes * 60:.1f} s",
         f"{two.wall_minutes * 60:.1f} s", ""),
        ("job-minutes (Σ finished - started)", f"{one.job_minutes:.1f}",
         f"{two.job_minutes:.1f}", ""),
        ("worker CPU, all processes (utime+stime)", f"{one.worker_cpu:.1f} s",
         f"{two.worker_cpu:.1f} s", ""),
        ("**worker CPU per job-minute**", f"{one.cpu_per_job_minute:.2f} s",
         f"{two.cpu_per_job_minute:.2f} s", ratio(one.cpu_per_job_minute,
                                                  two.cpu_per_job_minute)),
        ("pickup latency p50 (created → started)", f"{percentile(one.pickup, 0.5):.2f} s",
         f"{percentile(two.pickup, 0.5):.2f} s", ""),
        ("pickup latency p99", f"{percentile(one.pickup, 0.99):.2f} s",
         f"{percentile(two.pickup, 0.99):.2f} s", ""),
        ("peak database connections (workers')", conns(one), conns(two), ""),
        ("peak RSS of a worker process", f"{one.peak_rss / 2**20:.0f} MiB",
         f"{two.peak_rss / 2**20:.0f} MiB", ""),
        ("peak threads of a worker process", str(one.peak_threads), str(two.peak_threads), ""),
        ("Apify API requests per job-minute", f"{one.requests_per_job_minute:.0f}",
         f"{two.requests_per_job_minute:.0f}", ""),
        ("takeovers (Σ attempts - 1)", str(one.takeovers), str(two.takeovers), ""),
        ("tracebacks in worker logs", str(one.tracebacks), str(two.tracebacks), ""),
        ("harness CPU (sandbox + monitor, this process)", f"{one.harness_cpu:.1f} s",
         f"{two.harness_cpu:.1f} s", ""),
    ]
    lines = ["| figure | 1 worker | 2 workers | 2 vs 1 |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {a} | {b} | {r} |" for name, a, b, r in rows]
    return lines


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=None, help="concurrent jobs (default 200)")
    parser.add_argument("--quick", action="store_true", help="40 jobs")
    parser.add_argument("--stack", choices=STACKS, default="postgres+redis")
    # A fixed number of slots per worker, as a deployment sets it: with 1 worker the jobs wait
    # their turn, with 2 they run twice as wide, so jobs per minute shows the scaling ratio.
    parser.add_argument("--concurrency", type=int, default=50,
                        help="slots per worker (default 50; 0: jobs / workers + 8, all at once)")
    # 200-400 items at 10/s: each job lasts 20-40 s, long enough that all N overlap and the
    # steady cost of supervising a run dominates start-up, short enough for a few minutes.
    parser.add_argument("--min-items", type=int, default=200)
    parser.add_argument("--max-items", type=int, default=400)
    parser.add_argument("--items-per-second", type=float, default=10.0,
                        help="sandbox pace per run")
    parser.add_argument("--start-delay", type=float, default=1.0,
                        help="sandbox seconds before a run's first item")
    parser.add_argument("--poll", type=float, default=0.5,
                        help="WORKER_POLL_INTERVAL_SECONDS (the product default)")
    parser.add_argument("--seconds", type=float, default=300.0,
                        help="budget per run for every job to end")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the worker logs")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (40 if args.quick else 200)
    return args



def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    tmp = Path(tempfile.mkdtemp(prefix="scale-"))
    previous = signal.signal(signal.SIGTERM, interrupt)  # so `finally` cleans up on SIGTERM
    keep = True  # an exception keeps the evidence
    try:
        results: list[Result] = []
        for workers in (1, 2):
            print(f"scale: {args.jobs} jobs through {workers} worker(s), {args.stack} …",
                  file=sys.stderr, flush=True)
            results.append(run_once(args, workers, tmp / f"{workers}-workers"))
        one, two = results
        print(f"\nscale: {args.jobs} concurrent TikTok sandbox jobs, {args.stack}, targets "
              f"{args.min_items}-{args.max_items} items at {args.items_per_second:g} items/s "
              f"(start delay {args.start_delay:g} s), worker poll {args.poll:g} s, "
              f"{os.cpu_count()} CPUs\n")
        print("\n".join(table(one, two)))
        problems = [f"{r.workers} worker(s): {p}" for r in results for p in r.problems]
        for line in problems[:20]:
            print(f"  {line}")
        failed = any(r.completed != r.jobs for r in results)
        if failed:
            print("\nFAILED: not every job completed", file=sys.stderr)
        record("scale", "jobs completed, 1 worker / 2 workers",
               f"{one.completed} / {two.completed}", f"{one.jobs} / {two.jobs} started",
               target="all", ok=not failed)
        record("scale", "jobs completed per minute, 2 workers", f"{two.per_minute:.1f}",
               f"{one.per_minute:.1f} (1 worker)",
               two.per_minute / one.per_minute if one.per_minute else None)
        record("scale", "worker CPU per job-minute, 2 workers",
               f"{two.cpu_per_job_minute:.2f} s", f"{one.cpu_per_job_minute:.2f} s (1 worker)",
               two.cpu_per_job_minute / one.cpu_per_job_minute
               if one.cpu_per_job_minute else None)
        record("scale", "pickup p99, 2 workers", f"{percentile(two.pickup, 0.99):.2f} s",
               f"{percentile(one.pickup, 0.99):.2f} s (1 worker)",
               percentile(two.pickup, 0.99) / percentile(one.pickup, 0.99)
               if percentile(one.pickup, 0.99) > 0 else None)
        for r in results:
            if r.peak_connections is not None:  # PostgreSQL only
                # The README's promise: at most 25 database connections per process.
                record("scale", f"peak database connections, {r.workers} worker(s)",
                       str(r.peak_connections), target=f"≤ {25 * r.workers}",
                       ok=r.peak_connections <= 25 * r.workers)
        keep = args.keep or bool(problems)
        return 1 if failed else 0
    except KeyboardInterrupt:
        keep = args.keep
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if keep:
            print(f"\nworker logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
