"""Pickup: a search must start running as soon as it is created, on whichever queue the
deployment uses."""

import contextlib
import random
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench._proc import REDIS, alone, database, parser, percentile, record, stack

LABELS = {"sqlite": "Huey on SQLite", "redis": "Huey on Redis",
          "postgres": "Huey on PostgreSQL", "qstash": "QStash (stand-in)"}
TOKEN, KEYS = "pickup-bench-token", (  # signing keys of at least 32 bytes, as PyJWT wants
    "sig_current_pickup_0123456789abcdefghijklmnopqrstuvwxyz",
    "sig_next_pickup_0123456789abcdefghijklmnopqrstuvwxyz0123")


@contextlib.contextmanager
def queue(backend: str, url: str) -> Iterator[dict[str, str]]:
    """The settings that point a process at the backend's queue."""
    if backend != "qstash":
        yield {"sqlite": {}, "redis": {"QUEUE_URL": REDIS, "REDIS_URL": REDIS}}.get(backend, {
            "QUEUE_URL": url.replace("postgresql+psycopg://", "postgresql://")})
        return
    from tests.qstash_standin import run_standin

    with socket.socket() as sock:  # a free port for `serve`, which QStash delivers to
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with run_standin(token=TOKEN, current_key=KEYS[0], next_key=KEYS[1]) as standin:
        yield {"QUEUE_URL": "qstash", "QSTASH_URL": standin.url, "QSTASH_TOKEN": TOKEN,
               "QSTASH_CURRENT_SIGNING_KEY": KEYS[0], "QSTASH_NEXT_SIGNING_KEY": KEYS[1],
               "PUBLIC_URL": f"http://127.0.0.1:{port}"}


def pickups(backend: str, tmp: Path, jobs: int) -> list[float]:
    rng = random.Random(10)
    with database("sqlite" if backend == "sqlite" else "postgres", tmp) as url, \
            queue(backend, url) as settings, stack(
                tmp, url, {"items_per_second": 1e6, "start_delay_seconds": 0.0},
                WORKER_CONCURRENCY="8", **settings) as run:
        if backend == "qstash":
            port = settings["PUBLIC_URL"].rpartition(":")[2]
            run.spawn("serve", "--host", "127.0.0.1", "--port", port).expect(
                "Application startup complete", 60)
        else:
            run.spawn("worker", "--concurrency", "8").expect(" started (", 60)
        # A first job loads what a worker loads lazily (clients, imports): not counted.
        run.wait([run.start(["pickup0"], 10)], 60)
        time.sleep(1.5)  # idle consumers settle into their idle rhythm (SQLite: 0.5 s polls)
        job_ids, due = [], time.monotonic()
        for index in range(1, jobs + 1):
            time.sleep(max(0.0, due - time.monotonic()))
            job_ids.append(run.start([f"pickup{index}"], 10))
            due += 0.2 * rng.uniform(0.5, 1.5)
        rows = run.wait(job_ids, 60)
    return [(row.started_at - row.created_at).total_seconds() for row in rows if row.started_at]


def main(argv: list[str]) -> None:
    jobs = 30 if parser(__doc__, "30 jobs per backend").parse_args(argv).quick else 100
    with tempfile.TemporaryDirectory(prefix="pickup-") as tmp:
        measured = {backend: pickups(backend, Path(tmp) / backend, jobs) for backend in LABELS}
    fastest = min(measured, key=lambda backend: percentile(measured[backend], 0.5))
    best = percentile(measured[fastest], 0.5)
    for backend, times in measured.items():
        p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
        record("pickup", f"{LABELS[backend]}: p50 (created → processing)",
               f"{p50 * 1000:,.1f} ms", f"{best * 1000:,.1f} ms ({LABELS[fastest]})", p50 / best)
        record("pickup", f"{LABELS[backend]}: p99 (created → processing)", f"{p99 * 1000:,.1f} ms",
               target="≤ 1000 ms, all picked up", ok=len(times) == jobs and p99 <= 1.0)


if __name__ == "__main__":
    alone(main)
