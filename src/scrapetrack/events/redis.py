"""Redis pub/sub bus (REDIS_URL): notices cross processes and machines.

Each campaign has a channel of its own, and a web process subscribes to those of the campaigns
it has watchers for: a notice of a job nobody there watches never reaches it.

Publishing goes through redis-py, subscribing through `redis.asyncio` pub/sub (hiredis parses
the replies). One task reads the subscription; a second sends the SUBSCRIBE and UNSUBSCRIBE
the hub's follows call for, on the same connection: redis-py's pub/sub writes a command
without reading its reply (the reader gets the confirmation), and asyncio lets one coroutine
write while another waits to read. A subscription that stays silent is pinged, and given up
when the ping goes unanswered too: a Redis host gone without a word leaves no socket to reset.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Coroutine, Sequence
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from scrapetrack.events.base import RESYNC, Bus, Deliver, Notice, Resync
from scrapetrack.events.follows import Follows, Subscriptions
from scrapetrack.exceptions import ConfigError, Unavailable

log = logging.getLogger(__name__)
CHANNEL = "scrapetrack:jobs"  # a campaign's channel is CHANNEL:<campaign id>
MAX_BACKOFF = 5.0
CONNECT_SECONDS = 5.0
# A silent subscription gets a PING after this long, and is given up after as long again.
HEALTH_SECONDS = 15.0


class RedisBus(Bus):
    name = "redis"
    routes_by_campaign = True

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel  # the prefix of every campaign's channel
        self.listener_name = f"scrapetrack-listen-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._follows = Follows()
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=5,
                                                socket_connect_timeout=5)
            pool = self._client.connection_pool
            pool.connection_class(**pool.connection_kwargs)  # its options checked, unopened
        except (ValueError, RedisError) as exc:
            raise ConfigError(f"REDIS_URL: {exc}") from exc

    def channel_of(self, campaign_id: str) -> str:
        return f"{self.channel}:{campaign_id}"

    def publish(self, notice: Notice) -> None:
        self.publish_many((notice,))

    def publish_many(self, notices: Sequence[Notice]) -> None:
        """One round trip for them all: a pipeline outside a transaction."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for notice in notices:
                    pipe.publish(self.channel_of(notice.campaign_id), notice.encode())
                pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("could not publish to Redis: %s", exc)

    def follow(self, campaign_id: str) -> None:
        self._follows.add(campaign_id)

    def unfollow(self, campaign_id: str) -> None:
        self._follows.discard(campaign_id)

    async def listen(self, deliver: Deliver) -> None:
        backoff = 0.1
        with self._follows.subscriptions() as subscriptions:
            while True:
                pool = aioredis.ConnectionPool.from_url(
                    self.url, socket_connect_timeout=CONNECT_SECONDS)
                # Our PING after a silence checks the connection. redis-py's own check (a
                # REDIS_URL's health_check_interval) would read the reply in the task that
                # sends a SUBSCRIBE, while the receiving task reads too.
                pool.connection_kwargs["health_check_interval"] = 0
                # Named, so `CLIENT LIST` tells an operator (and a test) which it is.
                pool.connection_kwargs["client_name"] = self.listener_name
                client = aioredis.Redis.from_pool(pool)
                pubsub = client.pubsub()
                try:
                    await self._subscribe(pubsub, subscriptions.everything())
                    backoff = 0.1
                    deliver(RESYNC)  # anything published while we were away is in the store
                    await _until_one_fails(self._receive(pubsub, deliver),
                                           self._reconcile(pubsub, subscriptions))
                except (RedisError, OSError) as exc:  # refused, timed out, TLS, AUTH refused
                    reason: BaseException = exc
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()
                log.warning("Redis subscription lost (%s: %s); reconnecting in %.1f s",
                            type(reason).__name__, reason, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    async def _subscribe(self, pubsub: aioredis.client.PubSub, campaigns: list[str]) -> None:
        """Connected, and subscribed to `campaigns` once the server says so: what is
        published on them from then on arrives."""
        async with asyncio.timeout(CONNECT_SECONDS):
            # The handshake (AUTH, SELECT) now, even with nothing to follow yet.
            await pubsub.connect()  # type: ignore[no-untyped-call]
            if not campaigns:
                return
            waiting = {self.channel_of(campaign_id).encode() for campaign_id in campaigns}
            await pubsub.subscribe(*waiting)
            while waiting:
                message = await pubsub.get_message(timeout=CONNECT_SECONDS)
                if message is not None and message["type"] == "subscribe":
                    waiting.discard(message["channel"])

    async def _receive(self, pubsub: aioredis.client.PubSub, deliver: Deliver) -> None:
        """Hand each notice to `deliver` until the connection ends, and a Resync for each
        campaign whose subscription the server confirms; a PING after a silence, and an end
        when that goes unanswered too."""
        prefix = len(self.channel_of("").encode())
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
            kind = message["type"]
            if kind == "message":
                if (notice := Notice.decode(message["data"])) is not None:
                    deliver(notice)
            elif kind == "subscribe":  # live from now: what changed before is read again
                deliver(Resync(message["channel"][prefix:].decode()))

    async def _reconcile(self, pubsub: aioredis.client.PubSub,
                         subscriptions: Subscriptions) -> None:
        """Subscribe to what the hub follows now, whenever that changes."""
        while True:
            await subscriptions.wake.wait()
            added, dropped = subscriptions.changes()
            if dropped:
                await pubsub.unsubscribe(*map(self.channel_of, dropped))
            if added:
                await pubsub.subscribe(*map(self.channel_of, added))

    def ping(self) -> None:
        try:
            self._client.ping()
        except (RedisError, OSError) as exc:
            raise Unavailable(f"Redis did not answer: {exc}") from exc

    def close(self) -> None:
        self._client.close()


async def _until_one_fails(*coroutines: Coroutine[Any, Any, None]) -> None:
    """Run endless coroutines together until one raises (raised here); the others are
    cancelled."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
