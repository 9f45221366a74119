"""Chaos: a search must end with every result counted exactly once, whatever happens to the
workers running it and to Apify meanwhile."""

import contextlib
import random
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._proc import TERMINAL, Stack, alone, database, parser, record, stack
from scrapetrack.exceptions import ProviderUnavailable, ScrapetrackError
from scrapetrack.providers.platforms import get_platform

FAULTS = ("items:429/17,items:503/23,runs:502/19,items:reset/29,items:malformed/31,"
          "items:truncated/37")
WORKERS, TERM_SHARE, CHAOS_EVERY, STOP_GRACE, POLL = 2, 0.2, (2.0, 6.0), 30.0, 0.2
WORDS = ("fitness coach", "vegan recipes", "street food", "home workout", "skincare",
         "travel vlog", "budget travel", "crypto", "gaming setup", "book review", "diy decor",
         "dog training", "yoga", "meal prep", "makeup tutorial", "running", "cycling",
         "photography", "guitar lessons", "language learning", "gardening", "coffee", "hiit")


def watch(store: Any, job_ids: list[str], halt: threading.Event, statuses: dict[str, str],
          decreases: list[str]) -> None:
    """Every job's progress and processed count, every POLL seconds: any step back is noted."""
    seen: dict[tuple[str, str], int] = {}
    while not halt.wait(POLL):
        try:
            rows = store.job_states(job_ids)
        except ScrapetrackError:  # a busy moment of the database: read again next time
            continue
        for row in rows:
            statuses[row.id] = row.status
            for name, value in (("progress", row.progress), ("processed", row.processed_results)):
                if value < seen.get((row.id, name), value):
                    decreases.append(f"{row.id}: {name} {seen[row.id, name]} → {value}")
                seen[row.id, name] = value


def torment(run: Stack, rng: random.Random, done: Any, seconds: float) -> tuple[int, int]:
    """Kill and replace a worker every few seconds until `done()` or the time is up; then stop
    them all (their jobs go back to the queue). The SIGKILLs and SIGTERMs sent."""
    live = [run.spawn("worker", "--concurrency", "8") for _ in range(WORKERS)]
    stopping: dict[Any, float] = {}  # SIGTERMed workers, since when
    kills = terms = 0
    deadline, chaos_at = time.monotonic() + seconds, time.monotonic() + rng.uniform(*CHAOS_EVERY)
    while time.monotonic() < deadline and not done():
        for i, worker in enumerate(live):
            if worker.popen.poll() is not None:  # died on its own
                live[i] = run.spawn("worker", "--concurrency", "8")
        for worker in [w for w, since in stopping.items() if time.monotonic() - since > STOP_GRACE]:
            worker.popen.kill()  # it did not hand its jobs back in time
            del stopping[worker]
        if time.monotonic() >= chaos_at:
            term = rng.random() < TERM_SHARE
            victim = live.pop(rng.randrange(len(live)))
            victim.popen.send_signal(signal.SIGTERM if term else signal.SIGKILL)
            if term:
                stopping[victim] = time.monotonic()
            terms, kills = terms + term, kills + (not term)
            live.append(run.spawn("worker", "--concurrency", "8"))
            chaos_at = time.monotonic() + rng.uniform(*CHAOS_EVERY)
        time.sleep(0.05)
    for worker in live:
        worker.popen.send_signal(signal.SIGTERM)
    for worker in run.procs:
        worker.stop(STOP_GRACE)
    return kills, terms


def read_dataset(provider: Any, dataset_id: str) -> list[dict[str, Any]]:
    """The whole dataset; the faults hit these reads too, so ask again on them."""
    for attempt in range(30):
        with contextlib.suppress(ProviderUnavailable):
            return list(provider.items_page(dataset_id, 0, 100_000).items)
        time.sleep(0.1 * min(attempt + 1, 5))
    raise RuntimeError(f"dataset {dataset_id} could not be read in 30 tries")


def wrong(job: Any, rows: list[Any], items: list[dict[str, Any]]) -> list[str]:
    """What the job's counts and creators get wrong against the items before its offset (an
    ingested page moves the offset and the counts in one transaction)."""
    normalize = get_platform(job.platform).normalize
    read = items[:job.items_offset]
    creators = [c for item in read if (c := normalize(item, job.keywords or [])) is not None]
    checks = [(job.processed_results, len(creators), "processed"),
              (job.skipped_items, len(read) - len(creators), "skipped"),
              (sum(row.items_count for row in rows), len(creators), "creators' items_count sum"),
              (job.creators_count, len(rows), "creators_count")]
    if job.status == "completed":
        checks += [(job.items_offset, len(items), "items read"), (job.progress, 100, "progress")]
    problems = [f"{name} {got}, expected {want}" for got, want, name in checks if got != want]
    if {row.handle.lower() for row in rows} != {c.handle.lower() for c in creators}:
        problems.append(f"{len(rows)} creators saved, handles differ from the dataset's")
    return problems


def verify(run: Stack, job_ids: list[str]) -> tuple[list[Any], list[str], list[str], int]:
    """The jobs; those not ended; those with wrong counts; the duplicate creators."""
    jobs, lost, problems, duplicates = run.rt.store.job_states(job_ids), [], [], 0
    for job in jobs:
        if job.status not in TERMINAL:
            lost.append(f"{job.id}: {job.status}, attempts {job.attempts}, offset "
                        f"{job.items_offset}, last error {job.last_error!r}")
        creators = run.rt.store.creators(job.id)
        duplicates += len(creators) - len({row.handle.lower() for row in creators})
        try:
            errors = wrong(job, creators, read_dataset(run.rt.provider, job.apify_dataset_id)
                           if job.apify_dataset_id else [])
        except RuntimeError as exc:
            errors = [str(exc)]
        if errors:
            problems.append(f"{job.id} ({job.status}): {'; '.join(errors)}")
    return jobs, lost, problems, duplicates


def main(argv: list[str]) -> None:
    quick = parser(__doc__, "12 jobs, 60 items/s per run, 60 s to end them (default 40, 25, "
                   "240)").parse_args(argv).quick
    jobs, pace, budget = (12, 60.0, 60.0) if quick else (40, 25.0, 240.0)
    rng = random.Random(4)
    sandbox = {"items_per_second": pace, "start_delay_seconds": 1.5, "faults": FAULTS}
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp, database(
            "sqlite", Path(tmp)) as url, stack(Path(tmp), url, sandbox, STALL_TIMEOUT_SECONDS="60",
            HEARTBEAT_TIMEOUT_SECONDS="3", WORKER_POLL_INTERVAL_SECONDS=str(POLL)) as run:
        # A job's dataset is seeded by its keywords: distinct keywords, distinct datasets.
        job_ids = [run.start([*rng.sample(WORDS, rng.randint(1, 3)), f"chaos{i}"],
                             rng.randint(100, 1500)) for i in range(jobs)]
        halt, statuses, decreases = threading.Event(), dict[str, str](), list[str]()
        watcher = threading.Thread(target=watch, daemon=True, args=(
            run.rt.store, job_ids, halt, statuses, decreases))
        watcher.start()
        kills, terms = torment(run, rng, lambda: len(statuses) == jobs and all(
            s in TERMINAL for s in statuses.values()), budget)
        halt.set()
        watcher.join(timeout=10)
        # Counted before checking: the checks' own reads meet the faults too.
        injected, requests = run.sandbox.injected.total(), run.sandbox.requests.total()
        runs_started = run.sandbox.runs_started
        rows, lost, problems, duplicates = verify(run, job_ids)
    run_ids = {job.apify_run_id for job in rows if job.apify_run_id}
    zero = {"jobs lost (not terminal)": len(lost), "duplicate creators": duplicates,
            "extra Apify runs": runs_started - len(run_ids),
            "progress decreases": len(decreases), "jobs with wrong counts": len(problems)}
    print("".join(f"  {line}\n" for line in [*lost, *problems, *decreases][:40]), end="")
    record("chaos", "kills (SIGKILL) + graceful stops (SIGTERM) survived", f"{kills} + {terms}")
    record("chaos", "faults injected (of sandbox requests)", f"{injected} (of {requests})")
    for name, value in zero.items():
        record("chaos", name, str(value), target="0", ok=value == 0)


if __name__ == "__main__":
    alone(main)
