"""Pickup: job created → `processing` latency on each queue backend, side by side in one run.

For each backend in turn (a fresh database and queue each): a real worker process starts and
waits idle; one warm-up job runs (not counted); then N keyword jobs are created one at a time
through `Service.start_search`, spaced out (0.2 s on average, jittered ±50 %), so the figure
is latency, not backlog. Pickup = the job's `started_at - created_at` from the store: from
the row's creation (before its commit and the enqueue) to the worker's claim (the row turns
`processing`). The jobs are short (a few sandbox items at once), so idle slots remain.

  * Huey on SQLite (`QUEUE_URL=sqlite:///…`), SQLite store: `scrapetrack worker`;
  * Huey on Redis (`redis://127.0.0.1:6379/0`, a unique QUEUE_NAME), PostgreSQL store,
    REDIS_URL set (the scaled-out stack): `scrapetrack worker`;
  * Huey on PostgreSQL (`postgresql://…`, the store's own fresh database): `scrapetrack worker`;
  * QStash (`QUEUE_URL=qstash`) through the stand-in of the tests (tests/qstash_standin.py, a
    real HTTP server here that delivers signed messages), PostgreSQL store: `scrapetrack
    serve`, which runs the deliveries.

    .venv/bin/python -m bench.pickup [--quick] [--jobs N] [--interval S] [--backends LIST]
Target (issue 10): p99 ≤ 1 s on every backend; each backend's p50 is shown against the
fastest's.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(ROOT))

from bench._summary import record  # noqa: E402
from bench.chaos import (  # noqa: E402
    EXEC_WITH_PDEATHSIG,
    PG_SERVER,
    TERMINAL,
    Fleet,
    Worker,
    database,
    interrupt,
    scrapetrack_command,
)
from bench.scale import REDIS_QUEUE, percentile, redis_queue, wait_ready  # noqa: E402

BACKENDS = ("sqlite", "redis", "postgres", "qstash")
LABELS = {"sqlite": "Huey on SQLite", "redis": "Huey on Redis", "postgres": "Huey on PostgreSQL",
          "qstash": "QStash (stand-in)"}
# How the worker learns that a job waits: what the figures come down to.
HOW = {"sqlite": "each consumer thread polls, 0.05 s backing off x1.5 to 0.5 s",
       "redis": "consumer threads block on BZPOPMIN",
       "postgres": "consumer threads LISTEN; enqueue NOTIFYs",
       "qstash": "the stand-in POSTs a signed delivery to `serve`"}
P99_TARGET = 1.0  # seconds
QSTASH_TOKEN = "pickup-bench-token"
# At least 32 bytes: PyJWT warns about shorter HMAC keys.
QSTASH_CURRENT = "sig_current_pickup_0123456789abcdefghijklmnopqrstuvwxyz"
QSTASH_NEXT = "sig_next_pickup_0123456789abcdefghijklmnopqrstuvwxyz0123"
READY_SECONDS = 60.0
# The shell's settings must not reach the processes of a run: each run sets its own.
CLEARED = {"REDIS_URL", "EVENT_BUS", "SANDBOX_FAULTS", "JOB_TIMEOUT_SECONDS", "WORKER_CONCURRENCY",
           "WORKER_PAGE_SIZE", "MAX_TARGET_RESULTS", "HEARTBEAT_TIMEOUT_SECONDS",
           "STALL_TIMEOUT_SECONDS", "QUEUE_URL", "QUEUE_NAME", "DATABASE_URL", "PUBLIC_URL",
           "QSTASH_TOKEN", "QSTASH_URL", "QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY",
           "WORKER_POLL_INTERVAL_SECONDS", "SECRET_KEY", "PROMETHEUS_MULTIPROC_DIR"}


@dataclass
class Result:
    backend: str
    store: str
    jobs: int
    pickups: list[float]  # seconds, one per job that started
    calls: list[float]  # seconds each start_search took (write + enqueue)
    statuses: Counter[str]
    problems: list[str] = field(default_factory=list)
    skipped: str = ""  # why this backend was not measured

    def p(self, share: float) -> float:
        return percentile(self.pickups, share)

    @property
    def ok(self) -> bool:
        return (not self.skipped and len(self.pickups) == self.jobs
                and self.p(0.99) <= P99_TARGET)


# availability -------------------------------------------------------------------------------
def postgres_answers() -> bool:
    try:
        import psycopg

        psycopg.connect(f"postgresql://{PG_SERVER}/postgres", connect_timeout=2).close()
    except Exception:
        return False
    return True


def redis_answers() -> bool:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_QUEUE, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def why_not(backend: str) -> str:
    """Why the backend cannot run here, or "" if it can."""
    if backend != "sqlite" and not postgres_answers():
        return f"PostgreSQL does not answer at {PG_SERVER}"
    if backend == "redis" and not redis_answers():
        return f"Redis does not answer at {REDIS_QUEUE}"
    if backend == "qstash":
        try:
            standin()
        except ImportError as exc:
            return f"the QStash stand-in cannot be imported ({exc})"
    return ""


def standin() -> Any:
    """tests/qstash_standin.py's run_standin: a module of the tests, but plain (no pytest)."""
    if str(ROOT) not in sys.path:  # `tests` is a package beside `bench`, not installed
        sys.path.append(str(ROOT))
    from tests.qstash_standin import run_standin

    return run_standin


# processes ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(fleet: Fleet, name: str, argv: list[str]) -> Worker:
    """`scrapetrack ARGV` in its own process, dying with this one (see bench.chaos)."""
    log = fleet.logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", EXEC_WITH_PDEATHSIG, scrapetrack_command(), *argv],
            env=fleet.env, cwd=fleet.logs, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT)
    worker = Worker(process, log, time.monotonic())
    fleet.live.append(worker)
    return worker


def wait_healthy(worker: Worker, url: str, seconds: float = READY_SECONDS) -> None:
    """`serve` is ready once /healthz answers."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"serve exited {worker.process.returncode}:\n"
                               + worker.log.read_text(errors="replace")[-2000:])
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"serve not ready in {seconds:g} s:\n"
                       + worker.log.read_text(errors="replace")[-2000:])


def wait_terminal(runtime: Any, job_ids: list[str], fleet: Fleet, seconds: float) -> list[Any]:
    """The jobs' rows once all have ended, or at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        rows = runtime.store.job_states(job_ids)
        if len(rows) == len(job_ids) and all(row.status in TERMINAL for row in rows):
            return list(rows)
        exited = [w.log.name for w in fleet.live if w.process.poll() is not None]
        if exited:
            raise RuntimeError(f"{', '.join(exited)} exited mid-run")
        if time.monotonic() >= deadline:
            return list(rows)
        time.sleep(0.2)


# one backend --------------------------------------------------------------------------------
@contextlib.contextmanager
def queue_for(backend: str, database_url: str, tmp: Path) -> Iterator[dict[str, str]]:
    """The environment that points a process at the backend's queue (and its extras)."""
    if backend == "sqlite":
        yield {"QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}", "QUEUE_NAME": "scrapetrack"}
    elif backend == "redis":
        name = f"pickup_{uuid.uuid4().hex[:12]}"
        with redis_queue(name):
            yield {"QUEUE_URL": REDIS_QUEUE, "QUEUE_NAME": name, "REDIS_URL": REDIS_QUEUE}
    elif backend == "postgres":
        yield {"QUEUE_URL": database_url.replace("postgresql+psycopg://", "postgresql://"),
               "QUEUE_NAME": "scrapetrack"}
    else:
        with standin()(token=QSTASH_TOKEN, current_key=QSTASH_CURRENT,
                       next_key=QSTASH_NEXT) as stand_in:
            yield {"QUEUE_URL": "qstash", "QUEUE_NAME": "scrapetrack",
                   "QSTASH_TOKEN": QSTASH_TOKEN, "QSTASH_URL": stand_in.url,
                   "QSTASH_CURRENT_SIGNING_KEY": QSTASH_CURRENT,
                   "QSTASH_NEXT_SIGNING_KEY": QSTASH_NEXT,
                   "PUBLIC_URL": f"http://127.0.0.1:{free_port()}"}


def run_backend(backend: str, args: argparse.Namespace, sandbox_url: str, tmp: Path) -> Result:
    from scrapetrack.config import load_settings
    from scrapetrack.runtime import build_runtime
    from scrapetrack.service import SearchRequest

    store = "sqlite" if backend == "sqlite" else "postgres"
    (tmp / "logs").mkdir(parents=True)
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(database(store, tmp))
        env = {"DATABASE_URL": database_url, "APIFY_API_URL": sandbox_url,
               "APIFY_TOKEN": "pickup", "WORKER_CONCURRENCY": str(args.concurrency),
               "SCRAPETRACK_DATA_DIR": str(tmp / "var"),
               **stack.enter_context(queue_for(backend, database_url, tmp))}
        # Settings read the environment too: keep this shell's backends out of the run.
        settings = load_settings(
            database_url=database_url, queue_url=env["QUEUE_URL"],
            queue_name=env["QUEUE_NAME"], redis_url=env.get("REDIS_URL"),
            apify_api_url=sandbox_url, apify_token="pickup", event_bus="auto",
            sandbox_faults=None, public_url=env.get("PUBLIC_URL"),
            qstash_token=env.get("QSTASH_TOKEN"), qstash_url=env.get("QSTASH_URL"),
            qstash_current_signing_key=env.get("QSTASH_CURRENT_SIGNING_KEY"),
            qstash_next_signing_key=env.get("QSTASH_NEXT_SIGNING_KEY"),
            WORKER_CONCURRENCY=1, SCRAPETRACK_DATA_DIR=tmp / "var",
            # One user starts every job here: the per-user abuse limits are not what is timed.
            JOB_RATE_LIMIT_PER_MINUTE=0, MAX_ACTIVE_JOBS_PER_USER=0)
        runtime = build_runtime(settings, migrate=True, embedded_worker=False)
        stack.callback(runtime.close)
        worker_env = {key: value for key, value in os.environ.items() if key not in CLEARED}
        worker_env.update(env)
        fleet = Fleet(worker_env, tmp / "logs")
        stack.callback(fleet.kill_all)  # Ctrl-C or an exception: no process outlives us
        if backend == "qstash":
            # Deliveries run in the web process: `serve`, on the port PUBLIC_URL names.
            port = env["PUBLIC_URL"].rpartition(":")[2]
            wait_healthy(spawn(fleet, "serve", ["serve", "--host", "127.0.0.1", "--port",
                                                port]), env["PUBLIC_URL"])
        else:
            wait_ready(spawn(fleet, "worker", ["worker", "--concurrency",
                                               str(args.concurrency)]))

        user = runtime.store.create_user(f"pickup-{backend}@example.com")
        campaign = runtime.service.create_campaign(user.id, "pickup", None)

        def start(index: int) -> str:
            job = runtime.service.start_search(user.id, SearchRequest(
                platform="tiktok", campaign_id=campaign.id, keywords=[f"pickup{index}"],
                target_results=args.items))
            return str(job.id)

        # A first job loads what a worker loads lazily (clients, imports): not counted.
        warm = wait_terminal(runtime, [start(0)], fleet, 60)
        if not warm or warm[0].status not in TERMINAL:
            raise RuntimeError(f"{backend}: the warm-up job did not end within 60 s")
        # Let idle consumers settle into their idle rhythm (SQLite: 0.5 s polls) first.
        time.sleep(args.settle)
        job_ids: list[str] = []
        calls: list[float] = []
        due = time.monotonic()
        for index in range(1, args.jobs + 1):
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            began = time.perf_counter()
            job_ids.append(start(index))
            calls.append(time.perf_counter() - began)
            due += args.interval * rng.uniform(0.5, 1.5)
        rows = wait_terminal(runtime, job_ids, fleet, args.seconds)
        fleet.stop()

    problems = [f"{row.id}: {row.status} ({row.last_error})" for row in rows
                if row.status != "completed"]
    tracebacks = sum(path.read_text(errors="replace").count("Traceback")
                     for path in (tmp / "logs").glob("*.log"))
    if tracebacks:
        problems.append(f"{tracebacks} traceback(s) in the logs under {tmp / 'logs'}")
    return Result(backend=backend, store=store, jobs=len(job_ids),
                  pickups=[(row.started_at - row.created_at).total_seconds() for row in rows
                           if row.started_at is not None],
                  calls=calls, statuses=Counter(row.status for row in rows), problems=problems)


# report -------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:,.1f}"


def report(results: list[Result], args: argparse.Namespace) -> bool:
    """Print the table and the verdicts, record the headline figures; True if all passed."""
    measured = [r for r in results if not r.skipped and r.pickups]
    fastest = min(measured, key=lambda r: r.p(0.5), default=None)
    print(f"\npickup: {args.jobs} keyword jobs per backend, one every {args.interval:g} s "
          f"(±50 %), {args.items} sandbox items each; worker --concurrency "
          f"{args.concurrency}, idle before each job; {os.cpu_count()} CPUs\n")
    print("| backend | store | how the worker learns of a job | picked up | p50 ms | p99 ms "
          "| max ms | p50 vs fastest | start_search p50 ms |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        if r.skipped:
            print(f"| {LABELS[r.backend]} | | skipped: {r.skipped} | | | | | | |")
            continue
        ratio = (f"{r.p(0.5) / fastest.p(0.5):.1f}x" if fastest and fastest.p(0.5) > 0
                 and r.pickups else "-")
        worst = max(r.pickups, default=math.nan)
        print(f"| {LABELS[r.backend]} | {r.store} | {HOW[r.backend]} | {len(r.pickups)} / "
              f"{r.jobs} | {ms(r.p(0.5))} | {ms(r.p(0.99))} | {ms(worst)} | {ratio} "
              f"| {ms(percentile(r.calls, 0.5))} |")
    print()
    passed = True
    for r in results:
        label = LABELS[r.backend]
        if r.skipped:
            print(f"- n/a   {label}: skipped ({r.skipped})")
            record("pickup", f"{label}: p99 (created → processing)", "skipped",
                   target=f"≤ {P99_TARGET * 1000:.0f} ms")
            continue
        passed = passed and r.ok
        print(f"- {'PASS' if r.ok else 'FAIL'}  {label}: every job picked up, p99 ≤ "
              f"{P99_TARGET * 1000:.0f} ms: {len(r.pickups)} / {r.jobs}, {ms(r.p(0.99))} ms")
        if fastest is not None and r.pickups:
            record("pickup", f"{label}: p50 (created → processing)", f"{ms(r.p(0.5))} ms",
                   f"{ms(fastest.p(0.5))} ms ({LABELS[fastest.backend]})",
                   r.p(0.5) / fastest.p(0.5) if fastest.p(0.5) > 0 else None)
        record("pickup", f"{label}: p99 (created → processing)", f"{ms(r.p(0.99))} ms",
               target=f"≤ {P99_TARGET * 1000:.0f} ms, all picked up", ok=r.ok)
    for r in results:
        for line in r.problems[:10]:
            print(f"  {LABELS[r.backend]}: {line}")
    return passed



# main ---------------------------------------------------------------------------------------
def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pickup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=None,
                        help="measured jobs per backend (default 100; 30 with --quick)")
    parser.add_argument("--quick", action="store_true", help="30 jobs per backend")
    parser.add_argument("--interval", type=float, default=0.2,
                        help="mean seconds between two jobs' creation")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated subset of {','.join(BACKENDS)}")
    # Chaos's 8 slots: with QUEUE_URL=postgresql://… each one holds a LISTEN connection, and
    # the PostgreSQL server here is shared.
    parser.add_argument("--concurrency", type=int, default=8, help="worker slots")
    parser.add_argument("--items", type=int, default=10, help="sandbox items per job")
    parser.add_argument("--settle", type=float, default=1.5,
                        help="seconds the worker idles after the warm-up job")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="budget for the jobs to end after the last is created")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (30 if args.quick else 100)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(unknown)}")
    return args



def main(argv: Sequence[str] | None = None) -> int:
    from scrapetrack.sandbox import create_sandbox_app
    from scrapetrack.serving import serve_in_thread

    args = parse(argv)
    tmp = Path(tempfile.mkdtemp(prefix="pickup-"))
    previous = signal.signal(signal.SIGTERM, interrupt)  # so `finally` cleans up on SIGTERM
    keep = True  # an exception keeps the evidence
    try:
        # Every item at once: a job lasts about one worker poll, so slots stay free.
        app = create_sandbox_app(items_per_second=1e6, start_delay_seconds=0.0)
        results: list[Result] = []
        with serve_in_thread(app, lifespan=False) as sandbox_url:
            for backend in args.backends:
                reason = why_not(backend)
                if reason:
                    print(f"pickup: {LABELS[backend]} skipped: {reason}", file=sys.stderr)
                    results.append(Result(backend, "", 0, [], [], Counter(), skipped=reason))
                    continue
                print(f"pickup: {LABELS[backend]}, {args.jobs} jobs …", file=sys.stderr,
                      flush=True)
                results.append(run_backend(backend, args, sandbox_url, tmp / backend))
        passed = report(results, args)
        print("\nHow to read it: Huey's SQLite storage cannot wake a consumer, so each of the "
              f"{args.concurrency} consumer threads polls it: 0.05 s after a task, backing off "
              "x1.5 to every 0.5 s when idle. The first thread to look takes the job, so with "
              "C idle threads at random phases the wait is about 0.5 / (C + 1) s on average "
              "(less while some are still in their quick polls after a job), and never over "
              "0.5 s; with `--concurrency 1` it spreads over 0-0.5 s. Redis (BZPOPMIN) and "
              "PostgreSQL (LISTEN/NOTIFY) wake a blocked thread at once: what remains is the "
              "store's insert and commit, the enqueue and the claim's transaction. QStash adds "
              "an HTTP publish, the stand-in's hand-off and a signed delivery (verified) to the "
              "web process; real QStash adds its network and scheduling on top.")
        keep = args.keep or any(r.problems for r in results)
        return 0 if passed else 1
    except KeyboardInterrupt:
        keep = args.keep
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if keep:
            print(f"\nlogs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
