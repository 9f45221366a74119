"""One web process for bench/fanout.py: uvicorn (uvloop + httptools) on one core, serving
either the product (`create_app`, worker=False) or the bare broadcast baseline.

The package is not touched: this wrapper counts the statements SQLite runs on the product's
connections (the driver's trace callback, so reads that skip SQLAlchemy count too) and
publishes the counts, with the hub's read count, in a small memory-mapped file the benchmark
reads at any time without an HTTP request (which would queue behind the load it measures).

    python -m bench._fanout_server --mode app --stats FILE --database-url ... [--redis-url ...]
Prints `READY <port>` once it serves.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import mmap
import os
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench._proc import setup

# Slots of the stats file, 8 bytes each.
STATEMENTS, BEGINS, SELECTS, WRITES, HUB_READS, HUB_WATCHERS = range(6)
SLOTS = 8
STATS_SIZE = 8 * SLOTS


def read_stats(path: Path) -> list[int]:
    data = path.read_bytes()
    return list(struct.unpack(f"{SLOTS}q", data[:STATS_SIZE])) if len(data) >= STATS_SIZE \
        else [0] * SLOTS


class Stats:
    """Counters in a shared file; writes take a lock because the threadpool runs queries too."""

    def __init__(self, path: Path) -> None:
        path.write_bytes(b"\0" * STATS_SIZE)
        self._file = path.open("r+b")
        self._map = mmap.mmap(self._file.fileno(), STATS_SIZE)
        self._lock = threading.Lock()
        self._counts = [0] * SLOTS

    def add(self, slot: int, n: int = 1) -> None:
        with self._lock:
            self._counts[slot] += n
            struct.pack_into("q", self._map, slot * 8, self._counts[slot])

    def set(self, slot: int, value: int) -> None:
        with self._lock:
            self._counts[slot] = value
            struct.pack_into("q", self._map, slot * 8, value)


def count_statements(engine: Any, stats: Stats) -> None:
    """Every statement SQLite runs on a connection of `engine`'s pool."""
    from sqlalchemy import event

    def traced(statement: str) -> None:
        verb = statement.lstrip()[:6].upper()
        stats.add(STATEMENTS)
        if verb.startswith("BEGIN"):
            stats.add(BEGINS)
        elif verb == "SELECT":
            stats.add(SELECTS)
        elif verb in ("INSERT", "UPDATE", "DELETE"):
            stats.add(WRITES)

    def checkout(dbapi_conn: Any, *args: Any) -> None:
        dbapi_conn.set_trace_callback(traced)

    event.listen(engine.pool, "checkout", checkout)


def trace(runtime: Any, path: Path) -> None:
    """Log when each notice arrives, each hub read starts and each version is encoded, so the
    benchmark can split the latency into its stages. Off unless --trace: it costs CPU."""
    from scrapetrack.events.base import Notice

    out = path.open("a", buffering=1)
    bus, hub, store = runtime.bus, runtime.hub, runtime.store
    listen, read, absorb = bus.listen, store.job_states, hub._update_state

    async def traced_listen(deliver: Any) -> None:
        def traced(item: Any) -> None:
            if isinstance(item, Notice):
                out.write(f"notice {item.version} {time.time():.6f}\n")
            deliver(item)

        await listen(traced)

    def traced_read(*args: Any) -> Any:
        out.write(f"read 0 {time.time():.6f}\n")
        return read(*args)

    def traced_absorb(row: Any, broadcast: bool = False) -> None:
        if broadcast:
            out.write(f"absorb {row.version} {time.time():.6f}\n")
        absorb(row, broadcast)

    setattr(bus, "listen", traced_listen)  # noqa: B010 - instance attributes, not methods
    setattr(store, "job_states", traced_read)  # noqa: B010
    setattr(hub, "_update_state", traced_absorb)  # noqa: B010


def count_hub_reads(store: Any, stats: Stats) -> None:
    """Count the hub's reads (each a `job_states` call) without a hook in the product."""
    read = store.job_states

    def counted(*args: Any) -> Any:
        stats.add(HUB_READS, 1)
        return read(*args)

    setattr(store, "job_states", counted)  # noqa: B010 - an instance attribute


def build_app(args: argparse.Namespace, stats: Stats) -> tuple[Any, Any]:
    """The product's app and a callable that ends its streams on shutdown."""
    from scrapetrack.config import load_settings
    from scrapetrack.events.base import Bus
    from scrapetrack.events.poll import PollBus
    from scrapetrack.events.redis import RedisBus
    from scrapetrack.runtime import build_runtime
    from scrapetrack.web.app import create_app

    settings = load_settings(database_url=args.database_url, queue_url=args.queue_url,
                             redis_url=args.redis_url, data_dir=args.data_dir,
                             secret_key=args.secret_key, event_bus=args.bus,
                             # thousands of watchers share one user: no per-user stream cap
                             MAX_STREAMS_PER_USER=0)
    # The product default for this setup (make_bus): RedisBus with REDIS_URL, else PollBus.
    # Only the channel is private, so concurrent test runs on the same Redis don't mix in.
    bus: Bus = RedisBus(args.redis_url, channel=args.channel) if args.bus == "redis" \
        else PollBus()
    runtime = build_runtime(settings, embedded_worker=False, bus=bus)
    count_statements(runtime.store.engine, stats)
    count_hub_reads(runtime.store, stats)
    if args.trace is not None:
        trace(runtime, args.trace)
    app = create_app(settings, runtime=runtime, worker=False)

    def report_hub() -> None:  # another thread: just copies two numbers, 10 times a second
        while True:
            # A dict may change size while another thread counts: try again next time.
            with contextlib.suppress(RuntimeError):
                stats.set(HUB_WATCHERS, runtime.hub.watchers)
            time.sleep(0.1)

    if not args.no_hub_stats:
        threading.Thread(target=report_hub, daemon=True).start()
    return app, runtime


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["app", "bare"], required=True)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--queue-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--bus", choices=["redis", "poll"], default="redis")
    parser.add_argument("--channel", default="scrapetrack:bench")
    parser.add_argument("--data-dir")
    parser.add_argument("--trace", type=Path, help="log notice/read/encode times here")
    parser.add_argument("--no-hub-stats", action="store_true",
                        help="no thread copying the hub's counters (when no one reads them)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the loop here")
    parser.add_argument("--secret-key", default="bench-secret-key-" + "x" * 32)
    args = parser.parse_args(argv)
    setup(args.core)  # before any thread starts, so every thread stays on this core

    import uvicorn

    from scrapetrack.serving import GracefulServer

    stats = Stats(args.stats)
    runtime: Any = None
    if args.mode == "app":
        app, runtime = build_app(args, stats)
        on_exit = runtime.hub.close_streams_threadsafe
    else:
        from bench._fanout_bare import Broadcast

        app = Broadcast()

        def on_exit() -> None:
            pass

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, loop="uvloop", http="httptools", ws="none", lifespan="on",
                            log_level="warning", access_log=False, backlog=4096,
                            timeout_graceful_shutdown=3)
    server = GracefulServer(config, on_exit=on_exit)

    def announce() -> None:
        while not server.started:
            time.sleep(0.01)
        print(f"READY {port} {os.getpid()}", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    # uvicorn re-raises the SIGTERM it caught once it has stopped: exit cleanly instead, so
    # the runtime closes and the profile is written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()  # the event loop's thread: the hub and every request
    try:
        server.run(sockets=[sock])
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        if runtime is not None:
            runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
