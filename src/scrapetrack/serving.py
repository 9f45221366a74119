"""uvicorn, as scrapetrack serves with it: request heads bounded in time and size, a graceful
stop that ends event streams, and a background-thread server on a socket bound up front
(tests put the sandbox and the app on real sockets with it, so every client speaks real HTTP).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEAD_TIMEOUT_SECONDS = 10.0
MAX_HEAD_BYTES = 64 * 1024
TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
             b"connection: close\r\n\r\n")
TOO_SLOW = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class BoundedHeads(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, plus the two bounds it lacks against slowloris: a request
    head (request line and headers) must arrive whole within `head_timeout` seconds of the
    connection opening or of its first byte, and be at most `max_head_bytes` long. Otherwise
    the answer is 408 or 431 and the connection is closed. Idle keep-alive connections are
    uvicorn's own (`timeout_keep_alive`)."""

    head_timeout = HEAD_TIMEOUT_SECONDS
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_arrived()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._await_head()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_arrived()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # A parser callback that raised (ours, for a head too large) ends here too.
        if self._refusal:
            self.transport.write(self._refusal)
            self.transport.close()
            return
        super().send_400_response(msg)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self._refusal = TOO_LARGE
            raise ValueError("request head too large")  # stops the parser: a 400, or ours

    def _await_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _head_arrived(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(TOO_SLOW)
            self.transport.close()


def bounded_heads(head_timeout: float = HEAD_TIMEOUT_SECONDS,
                  max_head_bytes: int = MAX_HEAD_BYTES) -> type[BoundedHeads]:
    """The protocol class to give uvicorn.Config as `http`, with these bounds."""
    return type("BoundedHeads", (BoundedHeads,), {"head_timeout": head_timeout,
                                                  "max_head_bytes": max_head_bytes})


@contextmanager
def serve_in_thread(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0,
                    lifespan: bool = True, startup_timeout: float = 20.0,
                    http: type[BoundedHeads] | None = None) -> Iterator[str]:
    """Serve `app` on `host:port` (0: a free port) and yield its base URL; on exit, stop the
    server (running its lifespan's shutdown) and join the thread."""
    # Bound here, not in uvicorn: the port is known before the thread starts and no other
    # process can take it in between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            lifespan="on" if lifespan else "off", ws="none",
                            timeout_graceful_shutdown=2, server_header=False,
                            http=http or bounded_heads())
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"uvicorn-{bound}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server on port {bound} failed to start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start within {startup_timeout} s")
            time.sleep(0.01)
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


class GracefulServer(uvicorn.Server):
    """uvicorn waits for open responses before it shuts down, and event streams never end on
    their own: the first exit signal also ends them, so the server stops in its grace period."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.on_exit()
        super().handle_exit(sig, frame)
