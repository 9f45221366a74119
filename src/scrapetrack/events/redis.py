"""Redis pub/sub bus (REDIS_URL): notices cross processes and machines.

Publishing goes through redis-py. The subscription reads its own socket with hiredis's parser
and hands each notice to the hub inside the same turn of the event loop: redis-py's asyncio
pub/sub (a stream reader, a timeout scope and a task step per message) cost the web process
265 µs of CPU per message where this costs 130 µs, and at a handful of watchers that
difference is a third of what a whole change costs it (bench/fanout.py).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis
from redis.connection import parse_url
from redis.exceptions import RedisError

from scrapetrack.events.base import RESYNC, Bus, Deliver, Notice
from scrapetrack.exceptions import ConfigError

log = logging.getLogger(__name__)
CHANNEL = "scrapetrack:jobs"
MAX_BACKOFF = 5.0
CONNECT_SECONDS = 5.0
# A silent subscription gets a PING after this long, and is given up after as long again.
HEALTH_SECONDS = 15.0
CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
             "required": ssl.CERT_REQUIRED}


def command(*args: str | bytes) -> bytes:
    """One command in Redis's wire format."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where REDIS_URL points (redis://, rediss:// or unix://), read as redis-py reads it."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    tls: ssl.SSLContext | None = None
    auth: tuple[str, ...] = ()

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        try:
            options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ConfigError(f"REDIS_URL: {exc}") from exc
        password, username = options.get("password"), options.get("username")
        auth = (username, password) if username and password else (password,) if password \
            else ()
        tls = None
        if options.get("connection_class") is redis.SSLConnection:
            tls = ssl.create_default_context(cafile=options.get("ssl_ca_certs"))
            reqs = CERT_REQS.get(str(options.get("ssl_cert_reqs", "required")).lower())
            if reqs is None:
                raise ConfigError("REDIS_URL: ssl_cert_reqs must be none, optional or required")
            if reqs != ssl.CERT_REQUIRED:
                tls.check_hostname = False
            tls.verify_mode = reqs
        return cls(host=options.get("host", "localhost"), port=int(options.get("port", 6379)),
                   path=options.get("path"), tls=tls, auth=auth)

    async def connect(self, protocol: asyncio.Protocol) -> asyncio.BaseTransport:
        loop = asyncio.get_running_loop()
        if self.path is not None:
            transport, _ = await loop.create_unix_connection(lambda: protocol, self.path)
        else:
            transport, _ = await loop.create_connection(
                lambda: protocol, self.host, self.port, ssl=self.tls,
                server_hostname=self.host if self.tls is not None else None)
        return transport


class Subscription(asyncio.Protocol):
    """One SUBSCRIBE connection: each message's notice goes to `deliver` as it is parsed."""

    def __init__(self, hello: bytes, deliver: Deliver) -> None:
        self._hello = hello
        self._deliver = deliver
        self._parser = hiredis.Reader()
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[OSError | None] = loop.create_future()  # None: subscribed
        self.ended: asyncio.Future[OSError] = loop.create_future()  # why it ended
        self.heard = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, though they are ones
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._hello)

    def data_received(self, data: bytes) -> None:
        self.heard = True
        self._parser.feed(data)
        try:
            while (reply := self._parser.gets()) is not False:
                if isinstance(reply, Exception):  # an error reply: AUTH refused, say
                    self._end(ConnectionError(f"Redis answered: {reply}"))
                    return
                if isinstance(reply, list) and len(reply) == 3:
                    if reply[0] == b"message":
                        if (notice := Notice.decode(reply[2])) is not None:
                            self._deliver(notice)
                    elif reply[0] == b"subscribe" and not self.ready.done():
                        self.ready.set_result(None)
                # +OK to AUTH and the answer to a PING need nothing
        except hiredis.ProtocolError as exc:
            self._end(ConnectionError(f"unreadable reply from Redis: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc if isinstance(exc, OSError)
                  else ConnectionError(f"Redis closed the connection{f': {exc}' if exc else ''}"))

    def ping(self) -> None:
        if self._transport is not None:
            self._transport.write(command("PING"))

    def _end(self, reason: OSError) -> None:
        for future in (self.ready, self.ended):
            if not future.done():
                future.set_result(reason)
        if self._transport is not None:
            self._transport.close()

    async def watch(self) -> OSError:
        """Wait until the connection ends; a PING when it has been silent a while, and an end
        when that goes unanswered too (a peer gone without a word)."""
        pinged = False
        while not self.ended.done():
            self.heard = False
            await asyncio.wait([self.ended], timeout=HEALTH_SECONDS)
            if self.ended.done() or self.heard:
                pinged = False
            elif pinged:
                self._end(TimeoutError(f"no answer from Redis in {HEALTH_SECONDS:.0f} s"))
            else:
                self.ping()
                pinged = True
        return self.ended.result()


class RedisBus(Bus):
    name = "redis"

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.channel = channel
        self.endpoint = Endpoint.from_url(url)
        self._hello = b"".join([command("AUTH", *self.endpoint.auth)] if self.endpoint.auth
                               else []) + command("SUBSCRIBE", channel)
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def publish(self, notice: Notice) -> None:
        try:
            self._client.publish(self.channel, notice.encode())
        except (RedisError, OSError) as exc:
            log.warning("could not publish to Redis: %s", exc)

    async def listen(self, deliver: Deliver) -> None:
        backoff = 0.1
        while True:
            subscription = Subscription(self._hello, deliver)
            transport: asyncio.BaseTransport | None = None
            try:
                async with asyncio.timeout(CONNECT_SECONDS):
                    transport = await self.endpoint.connect(subscription)
                    if (failed := await subscription.ready) is not None:
                        raise failed
                backoff = 0.1
                deliver(RESYNC)  # anything published while we were away is in the store
                reason: OSError = await subscription.watch()
            except OSError as exc:  # refused, timed out, TLS, an error reply: all OSErrors
                reason = exc
            finally:
                if transport is not None:
                    transport.close()
            log.warning("Redis subscription lost (%s); reconnecting in %.1f s",
                        str(reason) or type(reason).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def close(self) -> None:
        self._client.close()
