"""The child processes of bench.fanout and bench.status_api, each pinned to its core: the web
process (mode "app" or "bare"; prints READY <port> <pid>) and the load client (mode "sse",
"poll" or "loop"; prints READY <connected>, START, STOP, then DONE once cfg["out"] is written)."""

import asyncio
import contextlib
import json
import mmap
import os
import re
import resource
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import uvicorn
import uvloop

SSE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


def setup(core: int) -> None:
    """This process (and the threads it starts later) on one core; thousands of sockets."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {core})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def product(cfg: dict[str, Any]) -> Any:
    """`create_app` on `build_runtime`, no worker, on the bus the product picks for this setup
    (on a Redis channel of this run's own). Nothing of it is patched: a trace callback on every
    SQLite connection counts the statements run (BEGIN and a new connection's PRAGMAs
    excluded: a transaction's and a connection's setup, not queries) into a memory-mapped file the
    bench reads at any moment without a request. (Imported here: the bare loop's process and
    the client's stay free of the product.)"""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from scrapetrack.config import load_settings
    from scrapetrack.events.poll import PollBus
    from scrapetrack.events.redis import RedisBus
    from scrapetrack.runtime import build_runtime
    from scrapetrack.web.app import create_app

    with open(cfg["stats"], "w+b") as f:
        f.truncate(8)  # 8 zero bytes
        shared = mmap.mmap(f.fileno(), 8)
    lock, count = threading.Lock(), [0]

    def traced(statement: str) -> None:  # the threadpool runs queries too: hence the lock
        if not statement.lstrip()[:6].upper().startswith(("BEGIN", "PRAGMA")):
            with lock:
                count[0] += 1
                shared[:8] = count[0].to_bytes(8, "little")

    event.listen(Engine, "connect", lambda conn, _record: conn.set_trace_callback(traced))
    settings = load_settings(  # thousands of watchers, one user: no cap on streams per user
        **cfg["settings"], REDIS_URL=cfg["redis_url"], SECRET_KEY="bench-secret-key-" + "x" * 32,
        EVENT_BUS="redis" if cfg["redis_url"] else "poll", MAX_STREAMS_PER_USER=0)
    bus = RedisBus(cfg["redis_url"], channel=cfg["channel"]) if cfg["redis_url"] else PollBus()
    return create_app(settings, runtime=build_runtime(settings, embedded_worker=False, bus=bus),
                      worker=False)


class Bare:
    """The baseline: keeps every stream's `send` and, 10 times a second, writes one frame (a job
    status of the product's shape) to all of them from one loop, each write stepped inline and
    made a Task only while the client's buffer is full. No framework, no database."""

    def __init__(self) -> None:
        self.sends: dict[Any, asyncio.Future[None] | None] = {}  # send -> its pending write
        self.ids = str(uuid.uuid4()), str(uuid.uuid4())
        self.ticker: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.ticker = self.ticker or asyncio.create_task(self.tick())  # from the first stream on
        await send({"type": "http.response.start", "status": 200, "headers": SSE})
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        self.sends[send] = None
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            self.sends.pop(send, None)

    async def tick(self) -> None:
        loop = asyncio.get_running_loop()
        due, version = loop.time(), 0
        while True:
            due, version = due + 0.1, version + 1
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            job = {"id": self.ids[0], "status": "processing", "progress": version % 100,
                   "processedResults": version, "targetResults": 10000, "error": None,
                   "platform": "tiktok", "kind": "keyword", "campaignId": self.ids[1],
                   "keywords": ["bench"], "targetUsername": None, "stage": "scraping",
                   "creatorsCount": 0, "skippedItems": 0, "ratePerSecond": 10.0,
                   "etaSeconds": 999.9, "version": version, "createdAt": now,
                   "updatedAt": now, "startedAt": now, "finishedAt": None}
            frame = (f"id: {version}\nevent: progress\n"
                     f"data: {json.dumps(job, separators=(',', ':'))}\n\n").encode()
            message = {"type": "http.response.body", "body": frame, "more_body": True}
            for send in [send for send, pending in self.sends.items() if pending is None]:
                coro = send(message)
                try:
                    waiting = coro.send(None)  # done at once, unless the buffer is full
                except StopIteration:
                    continue
                except Exception:
                    self.sends.pop(send, None)
                    continue
                # Skipped until this write is done.
                self.sends[send] = asyncio.ensure_future(self.finish(send, coro, waiting))

    async def finish(self, send: Any, coro: Any, waiting: Any) -> None:
        """What a Task does for a coroutine: wait for what it yielded, then step it on."""
        try:
            while True:
                await (waiting if waiting is not None else asyncio.sleep(0))
                waiting = coro.send(None)
        except StopIteration:
            if send in self.sends:
                self.sends[send] = None
        except BaseException:
            self.sends.pop(send, None)
            raise


def serve(cfg: dict[str, Any]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    app = cfg["mode"] == "app"
    server = uvicorn.Server(uvicorn.Config(
        product(cfg) if app else Bare(), loop="uvloop", http="httptools", ws="none", backlog=4096,
        lifespan="on" if app else "off", log_level="warning", access_log=False,
        timeout_graceful_shutdown=3))

    def announce() -> None:
        while not server.started:
            time.sleep(0.01)
        print(f"READY {sock.getsockname()[1]} {os.getpid()}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])


SSE_EVENT = re.compile(rb'id: (\d+)\nevent: progress\ndata: [^\n]*?"updatedAt":"([^"]+)"')
VERSION, UPDATED = re.compile(rb'"version":\s*(\d+)'), re.compile(rb'"updatedAt":\s*"([^"]+)"')
LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
BATCH, BATCH_SECONDS = 250, 15.0  # connections opened at once, and their time to answer
Sample = tuple[int, float, float]  # version, updatedAt, received (epoch seconds)


def epoch(raw: bytes) -> float:
    return datetime.fromisoformat(raw.decode()).timestamp()


class Conn(asyncio.Protocol):
    recording = False  # samples are kept in the measured window and its tail only

    def __init__(self, request: bytes, sample: list[Sample] | None) -> None:
        self.request, self.sample = request, sample  # sample None: count only
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.events, self.buf, self.lost = 0, b"", False  # events: SSE frames or answers

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_result(False)


class SSEConn(Conn):
    head, nl = b"", False  # nl: the last byte seen was a newline ("\n\n" over two reads)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self.head += data
            if (end := self.head.find(b"\r\n\r\n")) < 0:
                return
            self.ready.set_result(self.head[9:12] == b"200")
            data = self.head[end + 4:]
        # Frames end with a blank line; chunked framing uses \r\n and never makes one.
        self.events += data.count(b"\n\n") + (self.nl and data[:1] == b"\n")
        self.nl = data[-1:] == b"\n"
        if self.sample is not None and Conn.recording:
            now, self.buf = time.time(), self.buf + data
            if (cut := self.buf.rfind(b"\n\n")) >= 0:
                self.sample += [(int(m[1]), epoch(m[2]), now)
                                for m in SSE_EVENT.finditer(self.buf, 0, cut)]
                self.buf = self.buf[cut + 2:]


class PollConn(Conn):
    """The original design's browser: one keep-alive connection asking for the status every
    period (a poll due while the last answer is still coming waits for it); or, `again`, as
    soon as the last answer is in (bench.status_api's closed loop)."""

    need, body_at, code, busy, due, wrong = -1, 0, b"", False, False, 0  # need -1: in the head
    again, expect = False, b"200"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.ready.set_result(True)
        if self.again:
            self.poll()

    def poll(self) -> None:
        if self.busy:
            self.due = True
        elif not self.lost:
            self.busy = True
            self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need < 0:
                if (end := self.buf.find(b"\r\n\r\n")) < 0:
                    return
                length = LENGTH.search(self.buf, 0, end + 2)
                self.code, self.need = self.buf[9:12], int(length[1]) if length else 0
                self.body_at = end + 4
            if len(self.buf) - self.body_at < self.need:
                return
            body = self.buf[self.body_at:self.body_at + self.need]
            self.buf, self.need, self.busy = self.buf[self.body_at + self.need:], -1, False
            self.events += self.code == self.expect
            self.wrong += self.code != self.expect
            if self.sample is not None and Conn.recording and self.code == b"200":
                v, u = VERSION.search(body), UPDATED.search(body)
                if v and u:
                    self.sample.append((int(v[1]), epoch(u[1]), time.time()))
            if self.due or self.again:
                self.due = False
                self.poll()


async def connect(cfg: dict[str, Any], request: bytes) -> tuple[list[Conn], list[list[Sample]]]:
    """N connections, BATCH at a time (the server's backlog and accept loop stay sane), within
    the deadline (then the bench measures what it has); pollers spread evenly over one period,
    each then on a fixed beat."""
    loop, n, opening = asyncio.get_running_loop(), cfg["n"], asyncio.Semaphore(BATCH)
    every = max(1, n // max(1, cfg["sample"]))
    samples = [list[Sample]() for _ in range(0, n, every)][:cfg["sample"]]
    sampled = {i * every: sample for i, sample in enumerate(samples)}
    conns: list[Any] = [(SSEConn if cfg["mode"] == "sse" else PollConn)(request, sampled.get(i))
                        for i in range(n)]

    async def open_one(conn: Conn) -> None:
        async with opening:
            with contextlib.suppress(OSError, TimeoutError):
                opened = loop.create_connection(lambda: conn, "127.0.0.1", cfg["port"])
                await asyncio.wait_for(opened, BATCH_SECONDS)
                await asyncio.wait_for(asyncio.shield(conn.ready), BATCH_SECONDS)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*map(open_one, conns)), cfg["connect_deadline"])

    def beat(conn: PollConn, due: float) -> None:
        if not conn.lost:
            conn.poll()
            loop.call_at(due + cfg["period"], beat, conn, due + cfg["period"])

    for i, conn in enumerate(conns if cfg["mode"] == "poll" else []):
        first = loop.time() + cfg["period"] * i / n
        loop.call_at(first, beat, conn, first)
    return conns, samples


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    PollConn.again, PollConn.expect = cfg["mode"] == "loop", cfg.get("expect", "200").encode()
    headers = {**({"Authorization": f"Bearer {cfg['token']}"} if cfg["token"] else {}),
               **({"Accept": "text/event-stream"} if cfg["mode"] == "sse" else {}),
               **cfg.get("headers", {}), "Connection": "keep-alive"}
    conns, samples = await connect(cfg, "\r\n".join([
        f"GET {cfg['path']} HTTP/1.1", f"Host: 127.0.0.1:{cfg['port']}",
        *(f"{k}: {v}" for k, v in headers.items()), "", ""]).encode())
    ok = sum(1 for c in conns if c.ready.done() and c.ready.result() and not c.lost)
    print(f"READY {ok}", flush=True)
    await asyncio.sleep(cfg["warmup"])
    Conn.recording, events0, started = True, sum(c.events for c in conns), time.time()
    print(f"START {started:.6f}", flush=True)
    await asyncio.sleep(cfg["seconds"])
    stopped, events = time.time(), sum(c.events for c in conns) - events0
    print(f"STOP {stopped:.6f}", flush=True)
    # A change made just before STOP is still on its way (a poller sees it at its next beat).
    await asyncio.sleep(cfg["tail"])
    Conn.recording = False
    for conn in conns:
        if hasattr(conn, "transport"):  # it connected
            conn.transport.close()
    await asyncio.sleep(0.05)
    return {"started": started, "stopped": stopped, "events": events, "samples": samples,
            "wrong": sum(c.wrong for c in conns if isinstance(c, PollConn))}


if __name__ == "__main__":
    config = json.loads(sys.argv[1])
    setup(config["core"])  # before any thread starts, so every thread stays on this core
    if config["mode"] in ("app", "bare"):
        serve(config)
    else:
        # bench.status_api's closed loop turns as fast as its client: asyncio's, as it was.
        loop_run = asyncio.run if config["mode"] == "loop" else uvloop.run
        with open(config["out"], "w") as out:
            json.dump(loop_run(run(config)), out)
        print("DONE", flush=True)
