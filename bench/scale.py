"""Scale: a deployment that adds a worker process must finish more searches for it, at no
more CPU per search and within its database connections.

200 concurrent sandbox jobs through 1 `scrapetrack worker --concurrency 50`, then 2, each on
a fresh PostgreSQL database and Huey queue in Redis.
"""

from __future__ import annotations

import contextlib
import math
import random
import tempfile
from pathlib import Path
from typing import NamedTuple

import psycopg

from bench._proc import ADMIN, REDIS, cpu_seconds, database, parser, percentile, stack
from bench._summary import alone, record
from bench.chaos import WORDS

CONNECTIONS_PER_PROCESS = 25  # the README's promise


class Run(NamedTuple):
    completed: int
    per_minute: float
    cpu_per_job_minute: float  # s of the workers' CPU per minute of a job running
    pickup_p99: float  # s, created → started
    connections: int  # the workers' peak


def run_once(workers: int, jobs: int, tmp: Path) -> Run:
    rng, peak = random.Random(5), [0]
    with database("postgres", tmp) as url, stack(
            tmp, url, {"items_per_second": 10.0, "start_delay_seconds": 1.0}, QUEUE_URL=REDIS,
            REDIS_URL=REDIS, WORKER_POLL_INTERVAL_SECONDS="0.5") as run, psycopg.connect(
            ADMIN, autocommit=True) as monitor:
        procs = [run.spawn("worker", "--concurrency", "50") for _ in range(workers)]
        for proc in procs:
            proc.expect(" started (", 60)
        # CPU from "ready" on: start-up (imports, migrations) is a fixed cost, not per job.
        before = {proc.popen.pid: cpu_seconds(proc.popen.pid) for proc in procs}
        cpu = dict(before)

        def sample() -> None:
            for pid in cpu:
                with contextlib.suppress(OSError):  # gone: its last reading stands
                    cpu[pid] = cpu_seconds(pid)
            found = monitor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                    "AND application_name <> 'bench'", [url.rpartition("/")[2]])
            peak[0] = max(peak[0], (found.fetchone() or [0])[0])

        # A job's dataset is seeded by its keywords: distinct keywords, distinct datasets.
        rows = run.wait([run.start([rng.choice(WORDS), f"scale{i}"], rng.randint(200, 400))
                         for i in range(jobs)], 300, every=0.5, tick=sample)
        for proc in procs:
            proc.stop(30)
    done = [row for row in rows if row.status == "completed"]
    started = [row for row in rows if row.started_at is not None]
    job_minutes = sum((row.finished_at - row.started_at).total_seconds() / 60
                      for row in started if row.finished_at is not None)
    wall = (max(row.finished_at for row in done) - min(row.created_at for row in rows)
            ).total_seconds() / 60 if done else math.inf
    pickups = [(row.started_at - row.created_at).total_seconds() for row in started]
    return Run(len(done), len(done) / wall, sum(cpu[pid] - before[pid] for pid in cpu)
               / job_minutes if job_minutes else math.nan, percentile(pickups, 0.99), peak[0])


def main(argv: list[str]) -> None:
    jobs = 40 if parser(__doc__, "40 jobs").parse_args(argv).quick else 200
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        one, two = (run_once(n, jobs, Path(tmp) / str(n)) for n in (1, 2))
    complete = one.completed == two.completed == jobs
    record("scale", "jobs completed, 1 worker / 2 workers", f"{one.completed} / {two.completed}",
           f"{jobs} / {jobs} started", target="all", ok=complete)
    for figure, i, form in (("jobs completed per minute", 1, "{:.1f}"),
                            ("worker CPU per job-minute", 2, "{:.2f} s"),
                            ("pickup p99", 3, "{:.2f} s")):
        record("scale", f"{figure}, 2 workers", form.format(two[i]),
               f"{form.format(one[i])} (1 worker)", two[i] / one[i])
    for workers, run in ((1, one), (2, two)):
        most = CONNECTIONS_PER_PROCESS * workers
        record("scale", f"peak database connections, {workers} worker(s)",
               str(run.connections), target=f"≤ {most}", ok=run.connections <= most)


if __name__ == "__main__":
    alone(main)
