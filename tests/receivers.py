"""Real servers on local sockets that take what scrapetrack sends out: an HTTP receiver (a
webhook endpoint, or Slack's incoming webhook as Slack documents it: POST JSON, answered 200
`ok`), and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.message
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next of `answers` (then 200 for ever), and keeps it."""

    url: str
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, path: str, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append(Received(path, headers, body))
            return self.answers.pop(0) if self.answers else 200

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [r.body for r in self.received]


@contextmanager
def receiver(*answers: int) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    made = Receiver(f"http://127.0.0.1:{server.server_address[1]}", list(answers))
    server.receiver = made  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        status = self.server.receiver.take(  # type: ignore[attr-defined]
            self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        answer = b"ok" if status < 300 else b"invalid_payload"
        self.send_response(status)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"


@contextmanager
def mailbox(port: int | None = None) -> Iterator[Mailbox]:
    """aiosmtpd on `port`, or on a free one."""
    if port is None:
        with socket.socket() as sock:  # aiosmtpd connects to itself to check it started
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
    box = Mailbox("127.0.0.1", port)
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
