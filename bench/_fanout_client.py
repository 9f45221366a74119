"""The load client of bench/fanout.py: N raw connections in one uvloop process on its own core.

Every connection counts what it receives (bytes, SSE frames or poll responses) with C-level
byte operations only; a sample of connections also parses each event's version and
`updatedAt`, so the client stays far from being the bottleneck (it reports its own CPU).

    python -m bench._fanout_client --mode sse|poll --port P --path /api/... --token T -n N
Prints `READY <ok> <failed>`, `START <t>`, `STOP <t>`, writes --out (JSON), prints `DONE`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import uvloop

from bench._proc import setup

SSE_EVENT = re.compile(rb'id: (\d+)\nevent: progress\ndata: [^\n]*?"updatedAt":"([^"]+)"')
VERSION = re.compile(rb'"version":\s*(\d+)')
UPDATED = re.compile(rb'"updatedAt":\s*"([^"]+)"')
LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)

# One sample: (version, updatedAt as epoch seconds, receive time as epoch seconds).
Sample = tuple[int, float, float]


def epoch(raw: bytes) -> float:
    return datetime.fromisoformat(raw.decode()).timestamp()


class Conn(asyncio.Protocol):
    """What every connection shares: the transport, counters, the optional sample."""

    def __init__(self, request: bytes, sample: list[Sample] | None) -> None:
        self.request = request
        self.sample = sample  # None: count only
        self.transport: asyncio.Transport | None = None
        self.nbytes = 0
        self.events = 0  # SSE frames, or poll responses
        self.status = 0
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_result(False)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class SSEConn(Conn):
    recording = False  # class-wide: samples are kept only inside the measured window

    def __init__(self, request: bytes, sample: list[Sample] | None) -> None:
        super().__init__(request, sample)
        self._head = b""
        self._buf = b""
        self._nl = False  # the last byte seen was a newline (a "\n\n" split in two reads)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.nbytes += len(data)
        if not self.status:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self._head[9:12])
            data, self._head = self._head[end + 4:], b""
            self.ready.set_result(self.status == 200)
        # Frames end with a blank line; chunked framing uses \r\n and never makes one.
        self.events += data.count(b"\n\n") + (self._nl and data[:1] == b"\n")
        self._nl = data[-1:] == b"\n"
        if self.sample is not None and SSEConn.recording:
            now = time.time()
            self._buf += data
            cut = self._buf.rfind(b"\n\n")
            if cut >= 0:
                for m in SSE_EVENT.finditer(self._buf, 0, cut):
                    self.sample.append((int(m[1]), epoch(m[2]), now))
                self._buf = self._buf[cut + 2:]
        elif self._buf:
            self._buf = b""


class PollConn(Conn):
    """The original design's browser: one keep-alive connection asking for the status every
    period."""

    recording = False

    def __init__(self, request: bytes, sample: list[Sample] | None) -> None:
        super().__init__(request, sample)
        self._buf = b""
        self._need = -1  # body bytes still expected, -1 while reading the head
        self._body_at = 0
        self.busy = False
        self.due = False  # a poll fell due while the previous answer was still coming
        self.late = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.ready.set_result(True)

    def poll(self) -> None:
        if self.lost or self.transport is None:
            return
        if self.busy:
            self.due = True
            self.late += 1
            return
        self.busy = True
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.nbytes += len(data)
        self._buf += data
        while True:
            if self._need < 0:
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                self.status = int(self._buf[9:12])
                m = LENGTH.search(self._buf, 0, end + 2)
                self._need = int(m[1]) if m else 0
                self._body_at = end + 4
            if len(self._buf) - self._body_at < self._need:
                return
            body = self._buf[self._body_at:self._body_at + self._need]
            self._buf = self._buf[self._body_at + self._need:]
            self._need = -1
            self._answered(body)

    def _answered(self, body: bytes) -> None:
        self.events += 1
        self.busy = False
        if self.sample is not None and PollConn.recording and self.status == 200:
            v, u = VERSION.search(body), UPDATED.search(body)
            if v and u:
                self.sample.append((int(v[1]), epoch(u[1]), time.time()))
        if self.due:
            self.due = False
            self.poll()


async def connect_all(args: argparse.Namespace, request: bytes,
                      samples: list[list[Sample]]) -> list[Conn]:
    """Open N connections in batches (the server's backlog and accept loop stay sane);
    SSE connections count as open once their response head arrived."""
    loop = asyncio.get_running_loop()
    kind: type[Conn] = SSEConn if args.mode == "sse" else PollConn
    conns: list[Conn] = []
    every = max(1, args.n // max(1, args.sample))
    deadline = time.monotonic() + args.connect_deadline
    for start in range(0, args.n, args.batch):
        if time.monotonic() > deadline:  # the server does not keep up: measure what we have
            print(f"gave up opening after {len(conns)}", file=sys.stderr, flush=True)
            break
        batch: list[Conn] = []
        for i in range(start, min(args.n, start + args.batch)):
            sample: list[Sample] | None = None
            if i % every == 0 and len(samples) < args.sample:
                sample = []
                samples.append(sample)
            batch.append(kind(request, sample))
        results = await asyncio.gather(
            *(asyncio.wait_for(loop.create_connection(
                lambda c=c: c, args.host, args.port),  # type: ignore[misc]
                args.connect_timeout) for c in batch), return_exceptions=True)
        for conn, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                conn.ready.cancel()
        waiting = [c.ready for c in batch if not c.ready.done()]
        if waiting:
            await asyncio.wait(waiting, timeout=args.connect_timeout)
        conns.extend(batch)
        failed = sum(1 for c in batch if c.ready.cancelled() or not c.ready.done()
                     or not c.ready.result())
        print(f"{len(conns)} opened, {failed} of the last {len(batch)} not answering",
              file=sys.stderr, flush=True)
        if args.mode == "poll":
            schedule_polls(loop, batch, start, args)
    return conns


def schedule_polls(loop: asyncio.AbstractEventLoop, batch: list[Conn], offset: int,
                   args: argparse.Namespace) -> None:
    """Spread the N pollers evenly over one period, each then polling on a fixed beat."""
    now = loop.time()
    for i, conn in enumerate(batch, offset):
        assert isinstance(conn, PollConn)
        first = now + args.period * i / args.n
        loop.call_at(first, beat, loop, conn, first, args.period)


def beat(loop: asyncio.AbstractEventLoop, conn: PollConn, due: float, period: float) -> None:
    if conn.lost:
        return
    conn.poll()
    loop.call_at(due + period, beat, loop, conn, due + period, period)


def totals(conns: list[Conn]) -> tuple[int, int, list[int]]:
    return (sum(c.nbytes for c in conns), sum(c.events for c in conns),
            [c.events for c in conns])


def say(line: str) -> None:
    print(line, flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    auth = f"Authorization: Bearer {args.token}\r\n" if args.token else ""
    accept = "Accept: text/event-stream\r\n" if args.mode == "sse" else ""
    request = (f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n{auth}{accept}"
               "Connection: keep-alive\r\n\r\n").encode()
    samples: list[list[Sample]] = []
    kind = SSEConn if args.mode == "sse" else PollConn
    connect_started = time.monotonic()
    conns = await connect_all(args, request, samples)
    ok = sum(1 for c in conns if c.ready.done() and not c.ready.cancelled() and c.ready.result()
             and not c.lost)
    say(f"READY {ok} {args.n - ok}")
    connect_seconds = time.monotonic() - connect_started
    await asyncio.sleep(args.warmup)

    kind.recording = True
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    bytes0, events0, per0 = totals(conns)
    started = time.time()
    say(f"START {started:.6f}")
    await asyncio.sleep(args.seconds)
    stopped = time.time()
    bytes1, events1, per1 = totals(conns)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    say(f"STOP {stopped:.6f}")
    # Keep the samples coming a little longer: a change made just before STOP is still
    # on its way (a poller sees it at its next beat).
    await asyncio.sleep(args.tail)
    kind.recording = False
    per = sorted(b - a for a, b in zip(per0, per1, strict=True))
    client_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    result = {
        "mode": args.mode, "n": args.n, "connected": ok, "connect_seconds": connect_seconds,
        "started": started, "stopped": stopped, "bytes": bytes1 - bytes0,
        "events": events1 - events0,
        "per_conn_min": per[0] if per else 0, "per_conn_median": per[len(per) // 2] if per
        else 0,
        "lost": sum(1 for c in conns if c.lost),
        "late_polls": sum(c.late for c in conns if isinstance(c, PollConn)),
        "statuses": sorted({c.status for c in conns}),
        "client_cpu": client_cpu, "samples": samples,
    }
    for conn in conns:
        conn.close()
    await asyncio.sleep(0.05)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["sse", "poll"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("-n", type=int, required=True)
    parser.add_argument("--sample", type=int, default=100, help="connections that parse")
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--connect-timeout", type=float, default=15.0, help="s per batch")
    parser.add_argument("--connect-deadline", type=float, default=120.0, help="s in all")
    parser.add_argument("--period", type=float, default=3.0, help="poll period, s")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--tail", type=float, default=1.0)
    parser.add_argument("--core", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    setup(args.core)
    result = uvloop.run(run(args))
    args.out.write_text(json.dumps(result))
    say("DONE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
