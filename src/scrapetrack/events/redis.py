"""Redis pub/sub bus (REDIS_URL): notices cross processes and machines.

Publishing goes through redis-py, subscribing through `redis.asyncio` pub/sub (hiredis parses
the replies). A subscription that stays silent is pinged, and given up when the ping goes
unanswered too: a Redis host gone without a word leaves no socket to reset.
"""

from __future__ import annotations

import asyncio
import logging

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from scrapetrack.events.base import RESYNC, Bus, Deliver, Notice
from scrapetrack.exceptions import ConfigError, Unavailable

log = logging.getLogger(__name__)
CHANNEL = "scrapetrack:jobs"
MAX_BACKOFF = 5.0
CONNECT_SECONDS = 5.0
# A silent subscription gets a PING after this long, and is given up after as long again.
HEALTH_SECONDS = 15.0


class RedisBus(Bus):
    name = "redis"

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=5,
                                                socket_connect_timeout=5)
            pool = self._client.connection_pool
            pool.connection_class(**pool.connection_kwargs)  # its options checked, unopened
        except (ValueError, RedisError) as exc:
            raise ConfigError(f"REDIS_URL: {exc}") from exc

    def publish(self, notice: Notice) -> None:
        try:
            self._client.publish(self.channel, notice.encode())
        except (RedisError, OSError) as exc:
            log.warning("could not publish to Redis: %s", exc)

    async def listen(self, deliver: Deliver) -> None:
        backoff = 0.1
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=CONNECT_SECONDS)
            pubsub = client.pubsub()
            try:
                await self._subscribe(pubsub)
                backoff = 0.1
                deliver(RESYNC)  # anything published while we were away is in the store
                await self._receive(pubsub, deliver)
            except (RedisError, OSError) as exc:  # refused, timed out, TLS, AUTH refused
                reason: BaseException = exc
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await client.aclose()
            log.warning("Redis subscription lost (%s: %s); reconnecting in %.1f s",
                        type(reason).__name__, reason, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _subscribe(self, pubsub: aioredis.client.PubSub) -> None:
        """Subscribed once the server says so: what is published from then on arrives."""
        async with asyncio.timeout(CONNECT_SECONDS):
            await pubsub.subscribe(self.channel)
            while (message := await pubsub.get_message(timeout=CONNECT_SECONDS)) is None \
                    or message["type"] != "subscribe":
                pass

    @staticmethod
    async def _receive(pubsub: aioredis.client.PubSub, deliver: Deliver) -> None:
        """Hand each notice to `deliver` until the connection ends; a PING after a silence,
        and an end when that goes unanswered too."""
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=HEALTH_SECONDS)
            if message is None:
                if pinged:
                    raise TimeoutError(f"no answer from Redis in {HEALTH_SECONDS:.0f} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False  # a message, or the answer to the PING
            if message["type"] == "message" and \
                    (notice := Notice.decode(message["data"])) is not None:
                deliver(notice)

    def ping(self) -> None:
        try:
            self._client.ping()
        except (RedisError, OSError) as exc:
            raise Unavailable(f"Redis did not answer: {exc}") from exc

    def close(self) -> None:
        self._client.close()
