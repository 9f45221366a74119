"""Reconnect storm: when a web process restarts, every page it served reconnects its live
progress at once, and none may stay blank: 2,000 streams opened at once on one freshly started
web process (PostgreSQL + Redis) all get their first frame within 5 s, at about one database
read each."""

import asyncio
import contextlib
import math
import os
import resource
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import uvloop

from bench._proc import (
    ADMIN,
    REDIS,
    alone,
    cpu_time,
    database,
    parser,
    percentile,
    record,
    stack,
)
from scrapetrack.store.workspaces import Workspaces

TARGET_SECONDS, SERVER_CORE, CLIENT_CORE = 5.0, 0, 1
# A read a stream and one a token; on PostgreSQL the pool's check of a connection before each
# read (an empty statement) is a transaction too; and a few of the process's own.
MOST_TRANSACTIONS = 2.5
TABS = 10  # streams per user: a team's pages, half of them on one job, half on a campaign
CAMPAIGNS, JOBS_PER_CAMPAIGN = 5, 4
GIVE_UP = 60.0  # a stream with no first frame by then counts as never


def more_files() -> None:
    """The open-files limit raised to the hard one (the web process started next inherits
    it): a socket per stream on both sides."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def team(run: Any, users: int) -> tuple[list[str], list[str], list[str]]:
    """A workspace with `users` members, each with an API token, and its campaigns' jobs
    (pending: a first frame is the same whatever the job does)."""
    workspace = Workspaces(run.rt.store).create(run.actor.id, "storm").id
    tokens, campaigns, jobs = [], [], []
    for n in range(users):
        made = run.rt.accounts.create_user(f"storm{n}@example.com")
        Workspaces(run.rt.store).add_member(workspace, made.user.id, "viewer")
        tokens.append(made.token)
    for c in range(CAMPAIGNS):
        campaign = run.rt.service.create_campaign(run.actor, f"storm {c}", None, workspace)
        campaigns.append(campaign.id)
        jobs += [run.rt.store.create_job(campaign_id=campaign.id, user_id=run.actor.id,
                                         platform="tiktok", keywords=[f"storm{c}x{j}"],
                                         target_results=100).id
                 for j in range(JOBS_PER_CAMPAIGN)]
    return tokens, campaigns, jobs


def requests(port: int, n: int, tokens: list[str], campaigns: list[str],
             jobs: list[str]) -> list[bytes]:
    """Each stream's request, its user's token: every other one a campaign's, the rest a
    job's."""
    out = []
    for i in range(n):
        path = f"/api/jobs/{jobs[i % len(jobs)]}/events" if i % 2 else \
            f"/api/campaigns/{campaigns[i % len(campaigns)]}/events"
        out.append((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream"
                    f"\r\nAuthorization: Bearer {tokens[i % len(tokens)]}\r\n\r\n").encode())
    return out


class Stream(asyncio.Protocol):
    """One page's stream: the seconds from the storm's start to its first `data:` frame
    (inf if refused or lost, and `failed` says how)."""

    def __init__(self, request: bytes, started: float) -> None:
        self.request, self.started, self.buf, self.failed = request, started, b"", ""
        self.loop = asyncio.get_running_loop()
        self.first: asyncio.Future[float] = self.loop.create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.first.done():
            return
        self.buf += data
        if len(self.buf) >= 12 and self.buf[9:12] != b"200":
            self.failed = f"HTTP {self.buf[9:12].decode(errors='replace')}"
            self.first.set_result(math.inf)
        elif (at := self.buf.find(b"\ndata: ")) >= 0 and self.buf.find(b"\n\n", at) >= 0:
            self.first.set_result(self.loop.time() - self.started)
            self.buf = b""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.first.done():
            self.failed = f"lost ({exc or 'closed'})"
            self.first.set_result(math.inf)


async def storm(port: int, pid: int, wanted: list[bytes], db: str) -> dict[str, Any]:
    """Open every stream at once; once all have a first frame (or given up), wait for the
    database's statistics to settle (PostgreSQL flushes them within 10 s of going idle)."""
    loop = asyncio.get_running_loop()
    before = await loop.run_in_executor(None, settle, db)  # the set-up's counts all in
    cpu, started = cpu_time(pid), loop.time()
    streams = [Stream(request, started) for request in wanted]

    async def open_one(stream: Stream) -> float:
        try:
            await loop.create_connection(lambda: stream, "127.0.0.1", port)
            return await asyncio.wait_for(asyncio.shield(stream.first), GIVE_UP)
        except (OSError, TimeoutError) as exc:
            stream.failed = stream.failed or repr(exc)
            return math.inf

    firsts = await asyncio.gather(*map(open_one, streams))
    cpu = cpu_time(pid) - cpu
    settled = await loop.run_in_executor(None, settle, db)
    for stream in streams:
        if stream.transport is not None:
            stream.transport.close()
    failures = sorted({s.failed for s in streams if s.failed})
    return {"firsts": firsts, "xacts": settled[0] - before[0], "failures": failures, "cpu": cpu,
            "active": (settled[1] - before[1]) / 1000, "sessions": settled[2] - before[2]}


def db_stats(db: str) -> tuple[int, float, int]:
    """The database's transactions so far (committed and rolled back), its active time (ms,
    every connection's time running statements) and the connections opened to it."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback, active_time, sessions FROM "
                           "pg_stat_database WHERE datname = %s", [db]).fetchone()
    assert row is not None
    return int(row[0]), float(row[1]), int(row[2])


def settle(db: str) -> tuple[int, float, int]:
    """db_stats once the counts so far are all in: 11 s on, then unchanged for a second."""
    time.sleep(11)
    last = db_stats(db)
    while (now := db_stats(db)) != last:
        last = now
        time.sleep(1)
    return last


def main(argv: list[str]) -> None:
    quick = parser(__doc__, "300 streams (the count measured in issue 26)").parse_args(argv).quick
    n = 300 if quick else 2000
    users = max(1, n // TABS)
    more_files()
    affinity = os.sched_getaffinity(0)
    with tempfile.TemporaryDirectory(prefix="storm-") as tmp, database("postgres", Path(tmp)) \
            as url, stack(Path(tmp), url, {}, QUEUE_URL=REDIS, REDIS_URL=REDIS,
                          EVENT_BUS="redis", MAX_STREAMS_PER_USER="0",
                          CAMPAIGN_RATE_LIMIT_PER_MINUTE="0") as run:
        tokens, campaigns, jobs = team(run, users)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        web = run.spawn("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port))
        web.expect("Application startup complete", 60)
        with contextlib.suppress(OSError):  # the web process and the client on a core each
            os.sched_setaffinity(web.popen.pid, {SERVER_CORE})
            os.sched_setaffinity(0, {CLIENT_CORE})
        try:
            got = uvloop.run(storm(port, web.popen.pid, requests(
                port, n, tokens, campaigns, jobs), url.rpartition("/")[2]))
        finally:
            os.sched_setaffinity(0, affinity)
    firsts = got["firsts"]
    framed = [t for t in firsts if math.isfinite(t)]
    p50, p95, most = (percentile(framed, q) for q in (0.5, 0.95, 1.0))
    per = got["xacts"] / n
    print(f"  {len(framed):,} of {n:,} streams got a first frame: p50 {p50:.2f} s, p95 "
          f"{p95:.2f} s, max {most:.2f} s; {got['xacts']:,} database transactions ({per:.2f} "
          f"a stream, {users} users' tokens), {got['sessions']} connections opened; database "
          f"active {got['active']:.2f} s; web process CPU {got['cpu']:.2f} s", flush=True)
    if got["failures"]:
        print(f"  failed: {'; '.join(got['failures'])[:500]}", flush=True)
    record("storm", f"{n:,} streams opened at once: first frame p50 / p95 / max",
           f"{p50:.2f} / {p95:.2f} / {most:.2f} s", target=f"all within {TARGET_SECONDS:.0f} s",
           ok=len(framed) == n and most <= TARGET_SECONDS)
    record("storm", "database transactions per stream during the storm", f"{per:.2f}",
           f"{users:,} tokens, {n:,} streams", target=f"≤ {MOST_TRANSACTIONS} (a read a stream "
           "and one a token, each with its pool check)", ok=per <= MOST_TRANSACTIONS)
    record("storm", "database active time during the storm (all connections)",
           f"{got['active']:.2f} s")
    record("storm", "web process CPU per stream opened", f"{got['cpu'] / n * 1000:.2f} ms")


if __name__ == "__main__":
    alone(main)
