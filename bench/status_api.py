"""Status API: requests per second of the original design's status route against the same
app's /healthz.

One web process (the product's app, `_fanout_server --mode app`, pinned to core 0, SQLite) and a
closed-loop load client here, pinned to core 1: C keep-alive HTTP/1.1 connections, each sending
its next request as soon as the previous answer has fully arrived. Three routes, each measured
for the same seconds, in rounds that alternate their order so drift on a shared machine hits
them alike:
  * `/healthz`: the framework's floor (routing, middleware, one sync endpoint), no database;
  * `GET /api/scraping/tiktok?jobId=`: authenticated (Bearer token) status of a job, 200;
  * the same with `If-None-Match` of its ETag: 304, what a poller that saw this version gets.

    .venv/bin/python -m bench.status_api [--seconds S] [--rounds R] [--connections C]
Target (issue 10): status >= 0.7 x /healthz requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench._proc import cpu_seconds, pin, raise_nofile  # noqa: E402
from bench._summary import record  # noqa: E402
from bench.fanout import Child, make_fixture  # noqa: E402

SERVER_CORE, CLIENT_CORE = 0, 1
TARGET = 0.7
HEAD_END = b"\r\n\r\n"
LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
STATUS = re.compile(rb"^HTTP/1\.1 (\d{3})")


class Loop(asyncio.Protocol):
    """One connection: send, read one whole answer, count it, send again."""

    def __init__(self, request: bytes, stop: asyncio.Event, counts: dict[int, int]) -> None:
        self.request = request
        self.stop = stop
        self.counts = counts
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(HEAD_END)
            if end < 0:
                return
            head = self.buffer[:end]
            length = LENGTH.search(head)
            total = end + 4 + (int(length.group(1)) if length else 0)
            if len(self.buffer) < total:
                return
            status = STATUS.match(head)
            code = int(status.group(1)) if status else 0
            self.counts[code] = self.counts.get(code, 0) + 1
            self.buffer = self.buffer[total:]
            assert self.transport is not None
            if self.stop.is_set():
                self.transport.close()
                return
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class Case:
    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200
    answers: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    wrong: int = 0

    @property
    def rps(self) -> float:
        return self.answers / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.answers * 1e6 if self.answers else 0.0


async def load(port: int, case: Case, connections: int, seconds: float, pid: int) -> None:
    lines = [f"GET {case.path} HTTP/1.1", "Host: 127.0.0.1",
             *(f"{k}: {v}" for k, v in case.headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    warm, stop = asyncio.Event(), asyncio.Event()
    counts: dict[int, int] = {}
    # Warm-up: the same load for a second, not counted.
    conns = [(await loop.create_connection(
        lambda: Loop(request, warm, {}), "127.0.0.1", port))[1] for _ in range(connections)]
    await asyncio.sleep(1.0)
    warm.set()
    await asyncio.gather(*(c.closed for c in conns))
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    conns = [(await loop.create_connection(
        lambda: Loop(request, stop, counts), "127.0.0.1", port))[1] for _ in range(connections)]
    await asyncio.sleep(seconds)
    stop.set()
    t1, cpu1 = time.monotonic(), cpu_seconds(pid)
    await asyncio.gather(*(c.closed for c in conns))
    case.answers += counts.get(case.expect, 0)
    case.wrong += sum(n for code, n in counts.items() if code != case.expect)
    case.seconds += t1 - t0
    case.cpu += cpu1 - cpu0


def etag_of(port: int, path: str, token: str) -> str:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        answer = conn.getresponse()
        answer.read()
        tag = answer.getheader("ETag")
    finally:
        conn.close()
    if not tag:
        raise RuntimeError(f"{path} sent no ETag")
    return tag


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status_api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per case per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.rounds = 3.0, 1
    pin(CLIENT_CORE)
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="status-api-") as tmp_name:
        tmp = Path(tmp_name)
        fx = make_fixture(tmp, "poll")
        server = Child("server", ["-m", "bench._fanout_server", "--mode", "app", "--core",
                                  str(SERVER_CORE), "--stats", str(tmp / "stats"),
                                  "--database-url", fx.database_url, "--queue-url",
                                  fx.queue_url, "--bus", "poll", "--data-dir", str(tmp),
                                  "--no-hub-stats"],
                       tmp / "server.log")
        try:
            port, pid = (int(x) for x in server.expect("READY", 60))
            status = f"/api/scraping/tiktok?jobId={fx.job_id}"
            auth = {"Authorization": f"Bearer {fx.token}"}
            cases = [Case("/healthz", "/healthz"),
                     Case("status 200", status, auth),
                     Case("status 304 (If-None-Match)", status,
                          {**auth, "If-None-Match": etag_of(port, status, fx.token)}, 304)]
            for round_ in range(args.rounds):
                order = cases if round_ % 2 == 0 else cases[::-1]
                for case in order:
                    asyncio.run(load(port, case, args.connections, args.seconds, pid))
        finally:
            server.stop()
    floor = cases[0]
    print(f"\nstatus_api: {args.connections} keep-alive connections, closed loop, "
          f"{args.rounds} x {args.seconds:g} s per route; server on core {SERVER_CORE} "
          f"(SQLite), client on core {CLIENT_CORE}\n")
    print("| route | requests/s | server CPU µs/request | x /healthz | unexpected answers |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for case in cases:
        ratio = case.rps / floor.rps if floor.rps else 0.0
        print(f"| {case.name} | {case.rps:,.0f} | {case.cpu_us:,.0f} | {ratio:.2f}x | "
              f"{case.wrong} |")
    failed = False
    for case in cases[1:]:
        ratio = case.rps / floor.rps if floor.rps else 0.0
        ok = ratio >= TARGET and case.wrong == 0
        failed = failed or not ok
        print(f"- {'PASS' if ok else 'FAIL'}  {case.name} ≥ {TARGET}x /healthz: {ratio:.2f}x")
        record("status_api", f"{case.name}: requests/s", f"{case.rps:,.0f}/s",
               f"{floor.rps:,.0f}/s (/healthz)", ratio,
               f"≥ {TARGET}x, 0 unexpected answers", ok)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
