"""Redis pub/sub bus (REDIS_URL): notices cross processes and machines."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from scrapetrack.events.base import RESYNC, Bus, Notice, _Resync

log = logging.getLogger(__name__)
CHANNEL = "scrapetrack:jobs"
MAX_BACKOFF = 5.0


class RedisBus(Bus):
    name = "redis"

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def publish(self, notice: Notice) -> None:
        try:
            self._client.publish(self.channel, notice.encode())
        except (RedisError, OSError) as exc:
            log.warning("could not publish to Redis: %s", exc)

    async def listen(self) -> AsyncIterator[Notice | _Resync]:
        backoff = 0.1
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=5,
                                             health_check_interval=15)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                backoff = 0.1
                yield RESYNC  # anything published while we were away is in the store
                async for message in pubsub.listen():
                    if message.get("type") == "message" and (
                            notice := Notice.decode(message["data"])) is not None:
                        yield notice
            except (RedisError, OSError) as exc:
                log.warning("Redis subscription lost (%s); reconnecting in %.1f s", exc, backoff)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def close(self) -> None:
        self._client.close()
