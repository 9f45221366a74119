"""Jobs: many searches running at once, each watched by few or nobody. A team on Apify's
largest plan runs hundreds of searches at once: one worker process must carry them at a small
cost each, reading every run's new items within a second; the jobs nobody watches must cost
the web process nothing; and whoever watches must see progress within 1.5 s.

One stack (PostgreSQL, Redis queue and bus, the sandbox in a process of its own with its
request log), one `scrapetrack serve --no-worker` and one `scrapetrack worker --concurrency
TOTAL`, and a client process holding WATCHERS streams of the watched campaign (its 5 jobs).
Three windows of the same length, side by side in one run: TOTAL jobs running (the others 5
to a campaign), then MIDDLE (the rest cancelled), then the 5 watched jobs alone. Times are
wall-clock seconds, which every process shares (a run's start is known by its `startedAt`)."""

import asyncio
import contextlib
import functools
import itertools
import json
import math
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from bench._proc import (
    REDIS,
    Proc,
    Stack,
    alone,
    cpu_between,
    database,
    free_port,
    more_files,
    parser,
    percentile,
    record,
    stack,
    status,
    thread_times,
)
from bench.chaos import WORDS
from scrapetrack.exceptions import JobFinished

IPS, DELAY, TARGET = 1.0, 2.0, 5000  # each run: an item a second after 2 s, for over an hour
WATCHED, PER_CAMPAIGN, SAMPLED, MOMENT = 5, 5, 10, 0.5  # MOMENT: s between sampled moments
FLOOR = 60.0  # Apify requests a job-minute that the progress shown needs: an items read a second
ITEMS = re.compile(r"/v2/(?:datasets/([^/]+)|actor-runs/([^/]+)/dataset)/items$")
DATA = re.compile(rb"^data: (.*)$", re.MULTILINE)
Frame = tuple[float, str, int, str | None]  # received, job id, items read, run id
PHASES = ("alone", "middle", "all")


class Run(NamedTuple):
    started: float  # its startedAt
    dataset: str
    ended: float  # its finishedAt (cancelled), or inf: until then it writes items


def _same(stream: "Watch") -> "Watch":
    return stream


class Watch(asyncio.Protocol):
    """One watcher's campaign stream; a sampled one keeps each frame it receives."""

    def __init__(self, request: bytes, frames: list[Frame] | None) -> None:
        self.request, self.frames, self.buf = request, frames, b""
        self.ok: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if not self.ok.done():
            self.ok.set_result(data.startswith(b"HTTP/1.1 200"))
        if self.frames is None:
            return
        # Frames end with a blank line; chunked framing (\r\n) never makes one.
        *whole, self.buf = (self.buf + data).split(b"\n\n")
        for piece in whole:
            if found := DATA.search(piece):
                job = json.loads(found[1])
                self.frames.append((now, job["id"], job.get("itemsRead") or 0,
                                    job.get("apifyRunId")))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ok.done():
            self.ok.set_result(False)


async def watching(cfg: dict[str, Any]) -> dict[str, Any]:
    """`n` streams of `path`, one in `n // SAMPLED` sampled; READY <connected>, then frames
    until SIGTERM."""
    loop, n = asyncio.get_running_loop(), cfg["n"]
    request = (f"GET {cfg['path']} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
               f"Authorization: Bearer {cfg['token']}\r\n\r\n").encode()
    every = max(1, n // SAMPLED)
    frames: list[list[Frame]] = [[] for _ in range(0, n, every)]
    streams = [Watch(request, frames[i // every] if i % every == 0 else None) for i in range(n)]
    for stream in streams:
        await loop.create_connection(functools.partial(_same, stream), "127.0.0.1",
                                     cfg["port"])
    connected = sum([await asyncio.wait_for(stream.ok, 30) for stream in streams])
    print(f"READY {connected}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    return {"connected": connected, "frames": frames}


def running(run: Stack, jobs: list[str], seconds: float) -> Counter[str]:
    """The jobs' statuses, once all are processing or at the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        statuses = Counter(row.status for row in run.rt.store.job_states(jobs))
        if statuses["processing"] == len(jobs) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.5)


def logged(sandbox: httpx.Client, offset: int) -> dict[str, Any]:
    """The sandbox's request log from the `offset`-th request on."""
    answer = sandbox.get("/v2/_sandbox/requests", params={"offset": offset}, timeout=60)
    return dict(answer.raise_for_status().json()["data"])


def window(run: Stack, sandbox: httpx.Client, jobs: list[str], pids: dict[str, int],
           seconds: float) -> dict[str, Any]:
    """Over the next `seconds`: each process's CPU, the job-minutes of the jobs processing
    (counted every second), the sandbox's requests; the worker's RSS and threads at the end."""
    first = logged(sandbox, 1 << 40)["total"]
    t0, last, job_seconds = time.time(), time.time(), 0.0
    before = {name: thread_times(pid) for name, pid in pids.items()}
    while last < t0 + seconds:
        time.sleep(max(0.0, min(1.0, t0 + seconds - time.time())))
        count = sum(row.status == "processing" for row in run.rt.store.job_states(jobs))
        job_seconds, last = job_seconds + count * (time.time() - last), time.time()
    cpu = {name: cpu_between(before[name], thread_times(pid)) for name, pid in pids.items()}
    t1 = time.time()
    requests = [(e["at"], e["method"], e["path"]) for e in logged(sandbox, first)["items"]
                if e["at"] <= t1]
    return {"t0": t0, "t1": t1, "cpu": cpu, "job_minutes": job_seconds / 60,
            "requests": requests, "rss": status(pids["worker"], "VmRSS"),
            "threads": status(pids["worker"], "Threads")}


def produced_at(run: Run, count: int) -> float:
    """When the sandbox's run had written `count` items: its plan is deterministic."""
    return run.started + DELAY + count / IPS


def ages(streams: list[list[Frame]], runs: dict[str, Run], t0: float, t1: float) -> list[float]:
    """How old the progress sampled watchers see is, while the runs write items: at each frame,
    the time received less when its run had written that many items; and every MOMENT s, per
    watched job, how long the first item not shown yet has waited (0: the watcher is up to
    date)."""
    out: list[float] = []
    for frames in streams:
        shown: dict[str, tuple[int, Run]] = {}  # job → (items read shown, its run)
        moment = t0
        for at, job, count, run_id in [*frames, (math.inf, "", 0, None)]:
            while moment <= min(at, t1):
                out += [max(0.0, moment - produced_at(run, seen + 1))
                        for seen, run in shown.values()
                        if produced_at(run, 0) <= moment < run.ended]
                moment += MOMENT
            if (run := runs.get(run_id or "")) is None:
                continue
            if t0 <= at <= t1 and count and at < run.ended:
                out.append(at - produced_at(run, count))
            shown[job] = (count, run)
    return out


def reads(requests: list[tuple[float, str, str]], runs: dict[str, Run]) -> tuple[list[float],
                                                                                  int]:
    """The intervals between successive items reads of each dataset while its run writes
    items, and how many datasets were read."""
    datasets = {run.dataset: run_id for run_id, run in runs.items()}
    times: dict[str, list[float]] = defaultdict(list)
    for at, _method, path in requests:
        if found := ITEMS.search(path):
            run_id = datasets.get(found[1], "") if found[1] else found[2]
            run = runs.get(run_id)
            if run is not None and produced_at(run, 0) <= at < run.ended:
                times[run_id].append(at)
    return [b - a for seen in times.values() for a, b in itertools.pairwise(seen)], len(times)


def runs_of(run: Stack, sandbox: httpx.Client, jobs: list[str]) -> dict[str, Run]:
    """The jobs' sandbox runs, as the API shows them."""
    def stamp(at: str | None) -> float:
        return datetime.fromisoformat(at).timestamp() if at else math.inf

    found = {}
    for row in run.rt.store.job_states(jobs):
        if row.apify_run_id:
            data = sandbox.get(f"/v2/actor-runs/{row.apify_run_id}").json()["data"]
            found[data["id"]] = Run(stamp(data["startedAt"]), data["defaultDatasetId"],
                                    stamp(data["finishedAt"]))
    return found


def measure(tmp: Path, counts: tuple[int, int, int], watchers: int,
            seconds: float) -> dict[str, dict[str, Any]]:
    rng, settle, total = random.Random(26), min(10.0, seconds / 2), counts[-1]
    with database("postgres", tmp) as url, stack(
            tmp, url, {"items_per_second": IPS, "start_delay_seconds": DELAY,
                       "log_requests": True, "own_process": True}, QUEUE_URL=REDIS,
            REDIS_URL=REDIS, EVENT_BUS="redis", MAX_STREAMS_PER_USER="0",
            CAMPAIGN_RATE_LIMIT_PER_MINUTE="0") as run, httpx.Client(
            base_url=run.env["APIFY_API_URL"]) as sandbox:
        port = free_port()
        web = run.spawn("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port))
        web.expect("Application startup complete", 60)
        others = [run.rt.service.create_campaign(run.actor, f"others {i}", None).id
                  for i in range(math.ceil((total - WATCHED) / PER_CAMPAIGN))]
        # Every job is started before the worker, the watched campaign's first, then 5 to a
        # campaign: a search started while hundreds of its user's jobs write waits for the
        # user's row (locked FOR UPDATE to count their jobs) for up to a minute.
        jobs = [run.start([rng.choice(WORDS), f"jobs{i}"], TARGET, None if i < WATCHED else
                          others[(i - WATCHED) // PER_CAMPAIGN]) for i in range(total)]
        worker = run.spawn("worker", "--concurrency", str(total))
        worker.expect(" started (", 60)
        pids = {"web": web.popen.pid, "worker": worker.popen.pid}
        phases: dict[str, dict[str, Any]] = {}
        watch = {"n": watchers, "port": port, "path": f"/api/campaigns/{run.campaign.id}/events",
                 "token": run.rt.accounts.issue_token(run.actor.id)}
        out = tmp / "watch.json"
        client: Proc | None = None
        for name, count in reversed(list(zip(PHASES, counts, strict=True))):
            for job in jobs[count:]:  # the most jobs first, then fewer: the rest cancelled
                with contextlib.suppress(JobFinished):
                    run.rt.service.cancel_job(run.actor, job)
            started = time.monotonic()
            statuses = running(run, jobs[:count], 90)
            up = statuses.pop("processing", 0)
            print(f"  {name}: {up} of {count} jobs processing after "
                  f"{time.monotonic() - started:.0f} s{f', {dict(statuses)}' * bool(statuses)}",
                  flush=True)
            if client is None:
                client = Proc(["-m", "bench.jobs", "watch", json.dumps({**watch, "out": str(out)})],
                              tmp / "watch.log")
                watch["connected"] = int(client.expect("READY", 60 + watchers / 10))
            time.sleep(settle)
            phases[name] = {"started": count, "running": up,
                            **window(run, sandbox, jobs[:count], pids, seconds)}
        assert client is not None
        client.stop()
        client.expect("DONE", 10)
        for proc in (worker, web):  # the database goes next: no graceful hand-back needed
            proc.stop(5)
        runs = runs_of(run, sandbox, jobs)
    streams = json.loads(out.read_text())["frames"]
    for got in phases.values():
        span = got["t1"] - got["t0"]
        got["web"] = got["cpu"]["web"] / span * 60
        got["per_job"] = got["cpu"]["worker"] / got["job_minutes"] if got["job_minutes"] else \
            math.nan
        got["age"] = ages(streams, runs, got["t0"], got["t1"])
        got["reads"], got["read_datasets"] = reads(got["requests"], runs)
        got["apify"] = len(got["requests"]) / got["job_minutes"] if got["job_minutes"] else \
            math.nan
        seen = sum(got["t0"] <= f[0] <= got["t1"] for frames in streams for f in frames)
        got["frames"] = seen / max(1, len(streams)) * watch["connected"] / span
    return phases


def show(phases: dict[str, dict[str, Any]]) -> None:
    print("\n| jobs running | web CPU s/min | worker CPU s/min | worker CPU s per job-minute "
          "| frames/s to watchers | age p50 / p95 s | items read interval p50 / p95 s "
          "| Apify requests per job-minute | worker RSS MB, threads |\n"
          "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for got in (phases[name] for name in PHASES):
        age, read = got["age"], got["reads"]
        print(f"| {got['running']} of {got['started']} | {got['web']:.2f} | "
              f"{got['cpu']['worker'] / (got['t1'] - got['t0']) * 60:.1f} | "
              f"{got['per_job']:.3f} | {got['frames']:,.0f} | {percentile(age, 0.5):.2f} / "
              f"{percentile(age, 0.95):.2f} | {percentile(read, 0.5):.2f} / "
              f"{percentile(read, 0.95):.2f} | {got['apify']:.0f} | "
              f"{got['rss'] / 2**20:.0f}, {got['threads']} |")


def judge(phases: dict[str, dict[str, Any]], watchers: int) -> None:
    few, mid, most = (phases[name] for name in PHASES)
    at_mid = f"{mid['started']} running jobs"
    record("jobs", f"web CPU, {most['started']} running jobs, {WATCHED} of them watched by "
           f"{watchers}", f"{most['web']:.2f} s/min ({most['frames']:,.0f} frames/s)",
           f"{few['web']:.2f} s/min, the {WATCHED} alone ({few['frames']:,.0f} frames/s)",
           most["web"] / (few["web"] or math.nan), "≤ 1.2x, at the same frames/s",
           # Fewer frames: the worker fell behind, and the web process was spared the work.
           most["web"] <= 1.2 * few["web"] if most["frames"] >= 0.8 * few["frames"] else None)
    record("jobs", f"worker CPU per running job-minute, {at_mid} in 1 worker",
           f"{mid['per_job']:.3f} s", f"{few['per_job']:.3f} s ({WATCHED} jobs)",
           mid["per_job"] / few["per_job"], "≤ 0.15 s", mid["per_job"] <= 0.15)
    age, age_few = percentile(mid["age"], 0.95), percentile(few["age"], 0.95)
    record("jobs", f"shown-progress age p95, {at_mid}", f"{age:.2f} s",
           f"{age_few:.2f} s ({WATCHED} jobs)", age / (age_few or math.nan), "≤ 1.5 s",
           age <= 1.5)
    read = percentile(mid["reads"], 0.95)
    record("jobs", f"page-read interval p95, {at_mid} in 1 worker",
           f"{read:.2f} s ({mid['read_datasets']} datasets read)", target="≤ 1 s, every run read",
           ok=read <= 1.0 and mid["read_datasets"] >= mid["started"])
    record("jobs", f"Apify requests per job-minute, {at_mid}", f"{mid['apify']:.0f}",
           f"{FLOOR:.0f} (floor: an items read a second)", mid["apify"] / FLOOR)
    record("jobs", f"worker RSS, {at_mid}", f"{mid['rss'] / 2**20:.0f} MB")
    record("jobs", f"worker threads, {at_mid}", str(mid["threads"]))
    record("jobs", "jobs processing in each window", " / ".join(
        str(phases[name]["running"]) for name in PHASES), " / ".join(
        str(phases[name]["started"]) for name in PHASES) + " started")


def main(argv: list[str]) -> None:
    quick = parser(__doc__, "30 jobs (20 in the middle window), 10 watchers, 20 s windows"
                   ).parse_args(argv).quick
    counts, watchers, seconds = ((WATCHED, 20, 30), 10, 20.0) if quick else \
        ((WATCHED, 300, 500), 100, 60.0)
    more_files()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jobs-") as tmp:
        phases = measure(Path(tmp), counts, watchers, seconds)
    show(phases)
    print(f"\n(jobs took {time.monotonic() - began:.0f} s)")
    judge(phases, watchers)


if __name__ == "__main__":
    if sys.argv[1:2] == ["watch"]:  # the client process
        config = json.loads(sys.argv[2])
        got = asyncio.run(watching(config))
        Path(config["out"]).write_text(json.dumps(got))
        print("DONE", flush=True)
    else:
        alone(main)
