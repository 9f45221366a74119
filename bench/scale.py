"""Scale: a deployment that adds a worker process must finish more searches for it, at no
more CPU per search and within its database connections."""

import contextlib
import math
import random
import tempfile
from pathlib import Path

import psycopg

from bench._proc import ADMIN, REDIS, alone, cpu_time, database, parser, percentile, record, stack
from bench.chaos import WORDS

CONNECTIONS_PER_PROCESS = 25  # the README's promise


def run_once(workers: int, jobs: int, tmp: Path) -> dict[str, float]:
    """The run's figures (CPU: the workers' s per minute of a job running; pickup p99 in s)."""
    rng, peak = random.Random(5), [0]
    with database("postgres", tmp) as url, stack(
            tmp, url, {"items_per_second": 10.0, "start_delay_seconds": 1.0}, QUEUE_URL=REDIS,
            REDIS_URL=REDIS, WORKER_POLL_INTERVAL_SECONDS="0.5") as run, psycopg.connect(
            ADMIN, autocommit=True) as monitor:
        procs = [run.spawn("worker", "--concurrency", "50") for _ in range(workers)]
        for proc in procs:
            proc.expect(" started (", 60)
        # CPU from "ready" on: start-up (imports, migrations) is a fixed cost, not per job.
        before = {proc.popen.pid: cpu_time(proc.popen.pid) for proc in procs}
        cpu = dict(before)

        def sample() -> None:
            for pid in cpu:
                with contextlib.suppress(OSError):  # gone: its last reading stands
                    cpu[pid] = cpu_time(pid)
            found = monitor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                                    "AND application_name <> 'bench'", [url.rpartition("/")[2]])
            peak[0] = max(peak[0], (found.fetchone() or [0])[0])

        # A job's dataset is seeded by its keywords: distinct keywords, distinct datasets.
        rows = run.wait([run.start([rng.choice(WORDS), f"scale{i}"], rng.randint(200, 400))
                         for i in range(jobs)], 300, every=0.5, tick=sample)
    done = [row for row in rows if row.status == "completed"]
    started = [row for row in rows if row.started_at is not None]
    job_minutes = sum((row.finished_at - row.started_at).total_seconds() / 60
                      for row in started if row.finished_at is not None)
    wall = (max(row.finished_at for row in done) - min(row.created_at for row in rows)
            ).total_seconds() / 60 if done else math.inf
    pickups = [(row.started_at - row.created_at).total_seconds() for row in started]
    cpu_used = sum(cpu[pid] - before[pid] for pid in cpu)
    return {"completed": len(done), "jobs completed per minute": len(done) / wall,
            "worker CPU per job-minute": cpu_used / job_minutes if job_minutes else math.nan,
            "pickup p99": percentile(pickups, 0.99), "connections": peak[0]}


def main(argv: list[str]) -> None:
    jobs = 40 if parser(__doc__, "40 jobs").parse_args(argv).quick else 200
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        one, two = (run_once(n, jobs, Path(tmp) / str(n)) for n in (1, 2))
    record("scale", "jobs completed, 1 worker / 2 workers",
           f"{one['completed']} / {two['completed']}", f"{jobs} / {jobs} started", target="all",
           ok=one["completed"] == two["completed"] == jobs)
    for figure, form in (("jobs completed per minute", "{:.1f}"),
                         ("worker CPU per job-minute", "{:.2f} s"), ("pickup p99", "{:.2f} s")):
        record("scale", f"{figure}, 2 workers", form.format(two[figure]),
               f"{form.format(one[figure])} (1 worker)", two[figure] / one[figure])
    for workers, run in ((1, one), (2, two)):
        most = CONNECTIONS_PER_PROCESS * workers
        record("scale", f"peak database connections, {workers} worker(s)",
               str(run["connections"]), target=f"≤ {most}", ok=run["connections"] <= most)


if __name__ == "__main__":
    alone(main)
