"""The Redis bus's subscription (redis.asyncio pub/sub): every kind of REDIS_URL, refused
credentials, a connection cut by the server (the campaigns followed subscribed again), and a
server that stops answering."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from scrapetrack.events import redis as redis_bus
from scrapetrack.events.base import RESYNC, Notice, Resync
from scrapetrack.events.redis import RedisBus
from scrapetrack.exceptions import ConfigError
from tests.conftest import free_port, require, until, wait_until


def run(scenario: Coroutine[Any, Any, None]) -> None:
    """On a loop of its own thread: a session's browser keeps the main thread's loop busy."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario).result()


class Server:
    """A private redis-server process, so a test can cut its connections or lock it."""

    def __init__(self, tmp: Path, *args: str, client: dict[str, Any]) -> None:
        require("redis-server", shutil.which("redis-server") is not None)
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(**({"port": self.port} | client))

        def answers() -> bool:
            try:
                return bool(self.client.ping())
            except (redis.RedisError, OSError):
                assert self.proc.poll() is None, "redis-server exited"
                return False

        wait_until(answers, 20, "redis-server to answer")

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*args: str, **client: Any) -> Server:
        servers.append(Server(tmp_path, *args, client=client or {}))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


async def carries_notices(bus: RedisBus, got: list[Any], campaign_id: str = "campaign-1",
                          version: int = 3) -> None:
    """RESYNC first, then what is published on a campaign followed (once the subscription is
    live: it is, by then, since RESYNC follows the server's confirmation)."""
    await until(lambda: RESYNC in got)
    notice = Notice("job-1", campaign_id, version)
    await asyncio.to_thread(bus.publish, notice)
    await until(lambda: notice in got)


def tls_files(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                   capture_output=True)
    return cert, key


async def listening(bus: RedisBus, got: list[Any],
                    scenario: Callable[[], Awaitable[None]]) -> None:
    """`scenario` while `bus` listens, delivering into `got`, following campaign-1."""
    bus.follow("campaign-1")
    task = asyncio.ensure_future(bus.listen(got.append))
    try:
        await scenario()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        bus.close()


@pytest.mark.parametrize("kind", ["password", "user", "unix", "tls"])
def test_every_kind_of_url_subscribes(kind: str, tmp_path: Path,
                                      start_server: Callable[..., Server]) -> None:
    if kind == "password":
        server = start_server("--requirepass", "s3cret", password="s3cret")
        url = f"redis://:s3cret@127.0.0.1:{server.port}/0"
    elif kind == "user":
        server = start_server("--user", "alice", "on", ">pw", "~*", "&*", "+@all",
                              "--user", "default", "off", username="alice", password="pw")
        url = f"redis://alice:pw@127.0.0.1:{server.port}/3"
    elif kind == "unix":
        socket = tmp_path / "redis.sock"
        start_server("--unixsocket", str(socket), unix_socket_path=str(socket))
        url = f"unix://{socket}"
    else:
        cert, key = tls_files(tmp_path)
        tls_port = free_port()
        start_server("--tls-port", str(tls_port), "--tls-cert-file", str(cert),
                     "--tls-key-file", str(key), "--tls-auth-clients", "no")
        url = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"
    bus, got = RedisBus(url, channel="t"), list[Any]()
    run(listening(bus, got, lambda: carries_notices(bus, got)))


def test_refused_credentials_are_logged_and_tried_again(
        start_server: Callable[..., Server], caplog: pytest.LogCaptureFixture) -> None:
    server = start_server("--requirepass", "right", password="right")
    bus, got = RedisBus(f"redis://:wrong@127.0.0.1:{server.port}/0", channel="t"), list[Any]()
    caplog.set_level(logging.WARNING, "scrapetrack.events.redis")

    async def scenario() -> None:
        await until(lambda: caplog.text.count("AuthenticationError: invalid username") >= 2)
        assert got == []  # never subscribed, so never a RESYNC

    run(listening(bus, got, scenario))


def test_a_cut_connection_is_made_again_and_resynced(
        start_server: Callable[..., Server]) -> None:
    server = start_server()
    bus, got = RedisBus(f"redis://127.0.0.1:{server.port}/0", channel="t"), list[Any]()

    async def scenario() -> None:
        await until(lambda: got == [RESYNC])
        bus.follow("campaign-2")  # while connected: confirmed by a Resync of its own
        await until(lambda: Resync("campaign-2") in got)
        assert await asyncio.to_thread(server.client.client_kill_filter, _type="pubsub") == 1
        await until(lambda: got.count(RESYNC) == 2)
        # Both subscribed again before the RESYNC: published once, each arrives.
        await carries_notices(bus, got, "campaign-1")
        await carries_notices(bus, got, "campaign-2")
        assert got.count(Resync("campaign-2")) == 1  # the RESYNC covered it
        bus.unfollow("campaign-2")
        bus.follow("campaign-3")  # a new connection takes new follows too
        await until(lambda: Resync("campaign-3") in got)
        await carries_notices(bus, got, "campaign-3")

    run(listening(bus, got, scenario))


def test_a_server_that_stops_answering_is_pinged_then_left(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A peer gone without a word (a dead host keeps no socket to reset): the bus pings it
    after a silence, gives up after another, and connects again."""
    monkeypatch.setattr(redis_bus, "HEALTH_SECONDS", 0.2)
    caplog.set_level(logging.WARNING, "scrapetrack.events.redis")
    heard: list[bytes] = []
    connections = 0

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        received = b""
        while b"SUBSCRIBE\r\n$12\r\nt:campaign-1\r\n" not in received:  # CLIENT SETINFO first
            chunk = await reader.read(1000)
            received += chunk
            # CLIENT SETINFO (redis-py's own) and CLIENT SETNAME (the bus names its
            # connection) are answered; SUBSCRIBE below.
            writer.write(b"+OK\r\n" * (chunk.count(b"SETINFO") + chunk.count(b"SETNAME")))
            await writer.drain()
        heard.append(received)
        writer.write(b"*3\r\n$9\r\nsubscribe\r\n$12\r\nt:campaign-1\r\n:1\r\n")
        await writer.drain()
        heard.append(await reader.read(100))  # the PING; then silence
        await reader.read(100)  # until the bus hangs up
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(mute, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        bus, got = RedisBus(f"redis://127.0.0.1:{port}/0", channel="t"), list[Any]()

        async def reconnects() -> None:
            await until(lambda: got.count(RESYNC) == 2)

        try:
            await listening(bus, got, reconnects)
        finally:
            server.close()
            await server.wait_closed()
        assert connections >= 2
        assert heard[1] == b"*1\r\n$4\r\nPING\r\n"
        assert "no answer from Redis" in caplog.text

    run(scenario())


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "rediss://h/0?ssl_cert_reqs=maybe"])
def test_an_unusable_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        RedisBus(url)
