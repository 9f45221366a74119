"""Serve an ASGI app with uvicorn in a background thread, on a socket bound up front.

Tests put the sandbox and the app on real sockets with it, so every client speaks real HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from starlette.types import ASGIApp


@contextmanager
def serve_in_thread(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0,
                    lifespan: bool = True, startup_timeout: float = 20.0) -> Iterator[str]:
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
                            timeout_graceful_shutdown=2, server_header=False)
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
