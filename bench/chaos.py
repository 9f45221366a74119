"""Chaos: keyword jobs run by worker processes that keep being killed, against a sandbox that
keeps failing; then every job is checked against its dataset, read straight from the sandbox.

The figures issue 4 (item 8) asks for: kills survived, faults injected of each kind, jobs lost,
duplicate creators and extra Apify runs. The run fails (exit 1) unless jobs lost, duplicate
creators, extra runs, progress decreases and wrong counts are all 0.

    python -m bench.chaos [--quick] [--jobs N] [--seconds S] [--database sqlite|postgres]

Everything listens on 127.0.0.1. The sandbox runs in this process (so its counters can be read);
the store is built here too, but jobs run only in `scrapetrack worker` subprocesses.
"""

from __future__ import annotations

import argparse
import contextlib
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
from pathlib import Path
from types import FrameType
from typing import Any

from bench._summary import record

FAULTS = ("items:429/17,items:503/23,runs:502/19,items:reset/29,items:malformed/31,"
          "items:truncated/37")
PG_SERVER = "postgres@127.0.0.1:5432"
CONCURRENCY = 8
WORKERS = 2
TERM_SHARE = 0.2  # of chaos events that are a graceful SIGTERM rather than a SIGKILL
CHAOS_EVERY = (2.0, 6.0)  # seconds between chaos events, uniform
STOP_GRACE = 30.0  # seconds a SIGTERMed worker gets to hand its jobs back
POLL_SECONDS = 0.2
TERMINAL = frozenset({"completed", "error", "timeout", "cancelled"})
WORDS = ("fitness coach", "vegan recipes", "street food", "home workout", "skincare",
         "travel vlog", "budget travel", "crypto", "gaming setup", "book review", "diy decor",
         "dog training", "yoga", "meal prep", "makeup tutorial", "running", "cycling",
         "photography", "guitar lessons", "language learning", "gardening", "coffee", "hiit")
# Hands `scrapetrack worker` a parent-death signal before exec'ing it (same pid), so a bench
# that is itself SIGKILLed leaves no worker behind.
EXEC_WITH_PDEATHSIG = ("import ctypes, os, signal, sys; "
                        "ctypes.CDLL(None).prctl(1, signal.SIGKILL); "
                        "os.execv(sys.argv[1], sys.argv[1:])")


def scrapetrack_command() -> str:
    beside = Path(sys.executable).parent / "scrapetrack"
    if beside.exists():
        return str(beside)
    return str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "scrapetrack")


# workers ------------------------------------------------------------------------------------
@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    started: float
    stopping_since: float | None = None


@dataclass
class Fleet:
    """Worker processes, and what was done to them."""

    env: dict[str, str]
    logs: Path
    live: list[Worker] = field(default_factory=list)
    draining: list[Worker] = field(default_factory=list)
    kills: int = 0
    terms: int = 0
    term_exit_seconds: list[float] = field(default_factory=list)
    hung_stops: int = 0  # SIGTERMed workers that had to be SIGKILLed after STOP_GRACE
    unexpected_exits: list[str] = field(default_factory=list)
    spawned: int = 0

    def spawn(self) -> Worker:
        self.spawned += 1
        log = self.logs / f"worker-{self.spawned:03d}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", EXEC_WITH_PDEATHSIG, scrapetrack_command(), "worker",
                 "--concurrency", str(CONCURRENCY)],
                env=self.env, cwd=self.logs, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        worker = Worker(process, log, time.monotonic())
        self.live.append(worker)
        return worker

    def kill(self, rng: random.Random) -> None:
        victim = self.live.pop(rng.randrange(len(self.live)))
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        self.kills += 1

    def term(self, rng: random.Random) -> None:
        victim = self.live.pop(rng.randrange(len(self.live)))
        victim.process.send_signal(signal.SIGTERM)
        victim.stopping_since = time.monotonic()
        self.draining.append(victim)
        self.terms += 1

    def tend(self) -> None:
        """Replace workers that died on their own; finish off stops that hang."""
        for worker in list(self.live):
            code = worker.process.poll()
            if code is not None:
                self.live.remove(worker)
                self.unexpected_exits.append(f"{worker.log.name} exited {code}")
                self.spawn()
        now = time.monotonic()
        for worker in list(self.draining):
            assert worker.stopping_since is not None
            if worker.process.poll() is not None:
                self.term_exit_seconds.append(now - worker.stopping_since)
                self.draining.remove(worker)
            elif now - worker.stopping_since > STOP_GRACE:
                worker.process.kill()
                worker.process.wait()
                self.hung_stops += 1
                self.draining.remove(worker)

    def stop(self) -> None:
        """SIGTERM every worker (their jobs go back to the queue) and wait; kill stragglers."""
        for worker in self.live:
            worker.process.send_signal(signal.SIGTERM)
            worker.stopping_since = time.monotonic()
        self.draining.extend(self.live)
        self.live.clear()
        deadline = time.monotonic() + STOP_GRACE
        while self.draining and time.monotonic() < deadline:
            self.tend()
            time.sleep(0.1)
        self.kill_all()

    def kill_all(self) -> None:
        for worker in [*self.live, *self.draining]:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()
        self.live.clear()
        self.draining.clear()


# progress watcher ---------------------------------------------------------------------------
class Watcher(threading.Thread):
    """Reads every job from the store every POLL_SECONDS, and notes any step backwards."""

    def __init__(self, store: Any, job_ids: Sequence[str]) -> None:
        super().__init__(name="chaos-watcher", daemon=True)
        self.store = store
        self.job_ids = list(job_ids)
        self.halt = threading.Event()
        self.progress: dict[str, int] = {}
        self.processed: dict[str, int] = {}
        self.status: dict[str, str] = {}
        self.decreases: list[str] = []  # "job: progress 40 → 12 (status)"
        self.reads = 0
        self.read_errors = 0

    def run(self) -> None:
        from scrapetrack.exceptions import ScrapetrackError

        while not self.halt.is_set():
            try:
                rows = self.store.job_states(self.job_ids)
            except ScrapetrackError:  # a busy moment of the database: read again next time
                self.read_errors += 1
            else:
                self.reads += 1
                for row in rows:
                    self._note(row.id, "progress", self.progress, row.progress, row.status)
                    self._note(row.id, "processed", self.processed, row.processed_results,
                               row.status)
                    self.status[row.id] = row.status
            self.halt.wait(POLL_SECONDS)

    def _note(self, job_id: str, name: str, seen: dict[str, int], value: int,
              status: str) -> None:
        before = seen.get(job_id)
        if before is not None and value < before:
            self.decreases.append(f"{job_id}: {name} {before} → {value} ({status})")
        seen[job_id] = value

    def all_terminal(self) -> bool:
        return (len(self.status) == len(self.job_ids)
                and all(s in TERMINAL for s in self.status.values()))

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=10)


# databases ----------------------------------------------------------------------------------
@contextlib.contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """The DATABASE_URL of a fresh, empty database, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'app.db'}"
        return
    import psycopg
    from psycopg import sql

    name = f"chaos_{uuid.uuid4().hex[:12]}"
    admin = f"postgresql://{PG_SERVER}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))


# verification -------------------------------------------------------------------------------
@dataclass
class Check:
    lost: list[str] = field(default_factory=list)
    duplicates: int = 0
    wrong: list[str] = field(default_factory=list)  # "job: what disagrees"
    items_expected: int = 0
    items_ingested: int = 0
    unreadable: list[str] = field(default_factory=list)


def read_dataset(provider: Any, dataset_id: str) -> list[dict[str, Any]]:
    """The whole dataset; the sandbox's faults hit these reads too, so ask again on them.

    A `nonobjects` fault passes as a sound page with placeholders in it, and sandbox items are
    always objects, so a placeholder means: read again."""
    from scrapetrack.exceptions import ProviderUnavailable

    for attempt in range(30):
        try:
            items = list(provider.items_page(dataset_id, 0, 100_000).items)
        except ProviderUnavailable:
            items = None
        if items is not None and not any(item.get("error") == "not an object"
                                         for item in items):
            return items
        time.sleep(0.1 * min(attempt + 1, 5))
    raise RuntimeError(f"dataset {dataset_id} could not be read in 30 tries")


def verify(runtime: Any, jobs: Sequence[Any], provider: Any) -> Check:
    from scrapetrack.providers.platforms import get_platform

    check = Check()
    for job in jobs:
        if job.status not in TERMINAL:
            check.lost.append(f"{job.id}: {job.status}, attempts {job.attempts}, offset "
                              f"{job.items_offset}, last error {job.last_error!r}")
        rows = runtime.store.creators(job.id)
        check.duplicates += len(rows) - len({row.handle.lower() for row in rows})
        if job.apify_dataset_id is None:
            if rows or job.processed_results or job.items_offset:
                check.wrong.append(f"{job.id}: {len(rows)} creators but no dataset")
            continue
        try:
            items = read_dataset(provider, job.apify_dataset_id)
        except RuntimeError as exc:
            check.unreadable.append(f"{job.id}: {exc}")
            continue
        problems: list[str] = []
        if job.status == "completed":
            if job.items_offset != len(items):
                problems.append(f"read {job.items_offset} of {len(items)} items")
            if job.progress != 100:
                problems.append(f"progress {job.progress}")
        # An ingested page moves the offset and the counts in one transaction, so the rows
        # before the offset are exactly what the job must have counted, whatever its status.
        read = items[:job.items_offset]
        normalize = get_platform(job.platform).normalize
        creators = [c for item in read if (c := normalize(item, job.keywords or [])) is not None]
        handles = {c.handle.lower() for c in creators}
        check.items_expected += len(creators)
        check.items_ingested += job.processed_results
        if job.processed_results != len(creators):
            problems.append(f"processed {job.processed_results}, expected {len(creators)}")
        if job.skipped_items != len(read) - len(creators):
            problems.append(f"skipped {job.skipped_items}, expected {len(read) - len(creators)}")
        counted = sum(row.items_count for row in rows)
        if counted != len(creators):
            problems.append(f"creators' items_count sum {counted}, expected {len(creators)}")
        if {row.handle.lower() for row in rows} != handles:
            problems.append(f"{len(rows)} creators saved, {len(handles)} expected, handles "
                            "differ")
        if job.creators_count != len(rows):
            problems.append(f"creators_count {job.creators_count}, rows {len(rows)}")
        if problems:
            check.wrong.append(f"{job.id} ({job.status}): " + "; ".join(problems))
    return check


# the run ------------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=None, help="keyword jobs (default 40)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="budget for the jobs to end (default 240)")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true",
                        help="about a minute: 12 jobs, faster runs, 60 s budget")
    parser.add_argument("--items-per-second", type=float, default=None,
                        help="sandbox pace per run (default 25; 60 with --quick)")
    parser.add_argument("--faults", default=FAULTS, help="sandbox-wide fault plan")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (databases, worker logs)")
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (12 if args.quick else 40)
    args.seconds = args.seconds or (60.0 if args.quick else 240.0)
    args.items_per_second = args.items_per_second or (60.0 if args.quick else 25.0)
    return args


def interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    tmp = Path(tempfile.mkdtemp(prefix="chaos-"))
    (tmp / "logs").mkdir()
    previous = signal.signal(signal.SIGTERM, interrupt)  # so `finally` cleans up on SIGTERM
    failed = True  # an exception keeps the evidence too
    try:
        failed = run(args, tmp)
        return 1 if failed else 0
    except KeyboardInterrupt:
        failed = False
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if args.keep or failed:
            print(f"\ndatabases and worker logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> bool:
    """The whole run; True if a figure that must be 0 is not."""
    from scrapetrack.config import load_settings
    from scrapetrack.providers.apify import ApifyProvider
    from scrapetrack.runtime import build_runtime
    from scrapetrack.sandbox import create_sandbox_app
    from scrapetrack.service import SearchRequest
    from scrapetrack.serving import serve_in_thread

    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(database(args.database, tmp))
        app = create_sandbox_app(items_per_second=args.items_per_second,
                                 start_delay_seconds=1.5, faults=args.faults)
        sandbox = app.state.sandbox  # type: ignore[attr-defined]
        url = stack.enter_context(serve_in_thread(app, lifespan=False))
        env = {"DATABASE_URL": database_url, "QUEUE_URL": f"sqlite:///{tmp / 'queue.db'}",
               "APIFY_API_URL": url, "APIFY_TOKEN": "chaos", "HEARTBEAT_TIMEOUT_SECONDS": "3",
               "WORKER_POLL_INTERVAL_SECONDS": "0.2", "STALL_TIMEOUT_SECONDS": "60",
               "SCRAPETRACK_DATA_DIR": str(tmp / "var")}
        # Settings read the environment too: keep this shell's backends out of the run.
        settings = load_settings(**{key.lower(): value for key, value in env.items()
                                    if key not in ("WORKER_POLL_INTERVAL_SECONDS",
                                                   "SCRAPETRACK_DATA_DIR")},
                                 WORKER_POLL_INTERVAL_SECONDS=POLL_SECONDS,
                                 SCRAPETRACK_DATA_DIR=tmp / "var", redis_url=None,
                                 event_bus="auto", sandbox_faults=None,
                                 # one user starts every job: lift the per-user limits
                                 JOB_RATE_LIMIT_PER_MINUTE=0, MAX_ACTIVE_JOBS_PER_USER=0)
        runtime = build_runtime(settings, migrate=True, embedded_worker=False)
        stack.callback(runtime.close)
        worker_env = {key: value for key, value in os.environ.items()
                      if key not in {"REDIS_URL", "EVENT_BUS", "SANDBOX_FAULTS",
                                     "JOB_TIMEOUT_SECONDS", "WORKER_CONCURRENCY",
                                     "WORKER_PAGE_SIZE", "MAX_TARGET_RESULTS"}}
        worker_env.update(env)
        fleet = Fleet(worker_env, tmp / "logs")
        stack.callback(fleet.kill_all)  # Ctrl-C or an exception: no worker outlives us

        user = runtime.store.create_user("chaos@example.com")
        campaign = runtime.service.create_campaign(user.id, "chaos", None)
        started = time.monotonic()
        job_ids: list[str] = []
        for index in range(args.jobs):
            # A job's dataset is seeded by its keywords: distinct keywords, distinct datasets.
            keywords = [*rng.sample(WORDS, rng.randint(1, 3)), f"chaos{index}"]
            job = runtime.service.start_search(user.id, SearchRequest(
                platform="tiktok", campaign_id=campaign.id, keywords=keywords,
                target_results=rng.randint(100, 1500)))
            job_ids.append(job.id)
        watcher = Watcher(runtime.store, job_ids)
        watcher.start()
        stack.callback(watcher.stop)
        for _ in range(WORKERS):
            fleet.spawn()

        deadline = started + args.seconds
        next_chaos = time.monotonic() + rng.uniform(*CHAOS_EVERY)
        while time.monotonic() < deadline and not watcher.all_terminal():
            fleet.tend()
            if time.monotonic() >= next_chaos:
                if rng.random() < TERM_SHARE:
                    fleet.term(rng)
                else:
                    fleet.kill(rng)
                fleet.spawn()
                next_chaos = time.monotonic() + rng.uniform(*CHAOS_EVERY)
            time.sleep(0.05)
        wall = time.monotonic() - started
        fleet.stop()
        watcher.stop()
        # Counted before verifying: the verification's own reads meet the faults too.
        injected = Counter(sandbox.injected)
        requests = sum(sandbox.requests.values())
        runs_started = sandbox.runs_started

        jobs = runtime.store.job_states(job_ids)
        provider = ApifyProvider("chaos", url, max_retries=8)
        stack.callback(provider.close)
        check = verify(runtime, jobs, provider)

    statuses = Counter(job.status for job in jobs)
    run_ids = [job.apify_run_id for job in jobs if job.apify_run_id]
    extra_runs = runs_started - len(run_ids) + (len(run_ids) - len(set(run_ids)))
    takeovers = sum(max(0, job.attempts - 1) for job in jobs)
    tracebacks = sum(log.read_text(errors="replace").count("Traceback")
                     for log in (tmp / "logs").glob("*.log"))
    must_be_zero = {
        "jobs lost (not terminal)": len(check.lost),
        "duplicate creators": check.duplicates,
        "extra Apify runs": extra_runs,
        "progress decreases": len(watcher.decreases),
        "jobs with wrong counts": len(check.wrong) + len(check.unreadable),
    }
    rows: list[tuple[str, str]] = [
        ("jobs (targets 100-1500 items, TikTok)", str(len(jobs))),
        ("completed / error / timeout / cancelled",
         " / ".join(str(statuses[s]) for s in ("completed", "error", "timeout", "cancelled"))),
        ("kills (SIGKILL) survived", str(fleet.kills)),
        ("graceful stops (SIGTERM, hand-back)", str(fleet.terms)),
        ("takeovers (sum of attempts - jobs)", str(takeovers)),
        *((f"faults injected: {kind}", str(count)) for kind, count in sorted(injected.items())),
        ("faults injected, total (of sandbox requests)", f"{sum(injected.values())} "
                                                         f"(of {requests})"),
        *((name, str(value)) for name, value in must_be_zero.items()),
        ("items ingested / expected", f"{check.items_ingested} / {check.items_expected}"),
        ("Apify runs started", str(runs_started)),
        ("worker processes started", str(fleet.spawned)),
        ("worker tracebacks logged", str(tracebacks)),
        ("wall time (jobs created → all ended)", f"{wall:.1f} s"),
    ]
    print(f"\nchaos: {args.jobs} jobs, {args.database}, {WORKERS} workers x {CONCURRENCY}, "
          f"budget {args.seconds:g} s, {args.items_per_second:g} items/s per run, "
          f"seed {args.seed}, faults {args.faults}\n")
    print("| figure | value |\n| --- | ---: |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    details = [("lost", check.lost), ("wrong counts", check.wrong),
               ("unreadable datasets", check.unreadable),
               ("progress decreases", watcher.decreases),
               ("workers that died on their own", fleet.unexpected_exits),
               ("ended in error/timeout", [f"{job.id} ({job.status}): {job.last_error}"
                                           for job in jobs
                                           if job.status in ("error", "timeout")])]
    for title, lines in details:
        if lines:
            print(f"\n{title}:")
            for line in lines[:20]:
                print(f"  {line}")
    if fleet.hung_stops:
        print(f"\n{fleet.hung_stops} SIGTERMed worker(s) did not stop within {STOP_GRACE:g} s")
    if fleet.term_exit_seconds:
        print(f"\nSIGTERM → exit: max {max(fleet.term_exit_seconds):.1f} s")
    record("chaos", "kills (SIGKILL) + graceful stops (SIGTERM) survived",
           f"{fleet.kills} + {fleet.terms}")
    record("chaos", "faults injected (of sandbox requests)",
           f"{sum(injected.values())} (of {requests})")
    for name, value in must_be_zero.items():
        record("chaos", name, str(value), target="0", ok=value == 0)
    return any(must_be_zero.values())


if __name__ == "__main__":
    raise SystemExit(main())
