"""How many live-update streams each user holds open (MAX_STREAMS_PER_USER).

`LocalSlots` counts in this process. `RedisSlots` (when REDIS_URL is set) counts in Redis, so
the cap holds across every web process: each open stream is a member of the user's sorted
set, scored by when it lapses; its process renews its own members every few seconds, so the
streams of a process that died lapse by themselves within `ttl` seconds. If Redis cannot be
reached, streams are let through (and logged): live updates matter more than the cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from scrapetrack.exceptions import TooManyStreams

log = logging.getLogger(__name__)

# KEYS[1]: the user's set. ARGV: member, limit, ttl. Redis's own clock, so machines agree.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""
# KEYS: the users' sets; ARGV: ttl, then the members, one per key.
RENEW = """
local t = redis.call('TIME')
local lapse = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', lapse, ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[1])) + 1)
end
return #KEYS
"""


class StreamSlots:
    """The cap on one user's open streams; `limit` 0 means none."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def take(self, user_id: str) -> str | None:
        """A ticket for one more stream, or None when the user is at the cap."""
        raise NotImplementedError

    async def give_back(self, user_id: str, ticket: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Stop any background work (the app's lifespan calls this)."""

    def refusal(self) -> TooManyStreams:
        return TooManyStreams(f"You have {self.limit} live updates open, the most allowed; "
                              "close a tab and try again", retry_after=self.RETRY_AFTER_SECONDS)


class LocalSlots(StreamSlots):
    """Counted in this process, on its event loop only (so no lock)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.open: dict[str, int] = {}

    async def take(self, user_id: str) -> str | None:
        held = self.open.get(user_id, 0)
        if self.limit and held >= self.limit:
            return None
        self.open[user_id] = held + 1
        return user_id

    async def give_back(self, user_id: str, ticket: str) -> None:
        held = self.open.get(user_id, 0) - 1
        if held > 0:
            self.open[user_id] = held
        else:
            self.open.pop(user_id, None)


class RedisSlots(StreamSlots):
    def __init__(self, limit: int, url: str, *, prefix: str = "scrapetrack",
                 ttl: float = 30.0) -> None:
        super().__init__(limit)
        self.url = url
        self.prefix = prefix
        self.ttl = ttl
        self.held: dict[str, tuple[str, str]] = {}  # ticket -> (key, member)
        self._client: aioredis.Redis | None = None
        self._renewer: asyncio.Task[None] | None = None

    def _key(self, user_id: str) -> str:
        return f"{self.prefix}:streams:{user_id}"

    def _redis(self) -> aioredis.Redis:
        # Made on first use, on the app's event loop, which it then belongs to.
        if self._client is None:
            self._client = aioredis.Redis.from_url(self.url, socket_timeout=2,
                                                   socket_connect_timeout=2)
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())
        return self._client

    async def take(self, user_id: str) -> str | None:
        if not self.limit:
            return ""
        ticket = uuid.uuid4().hex
        key = self._key(user_id)
        try:
            taken = await _awaited(self._redis().eval(TAKE, 1, key, ticket, self.limit,
                                                      self.ttl))
        except (RedisError, OSError) as exc:
            log.warning("stream cap not checked, Redis is unavailable: %s", exc)
            return ""
        if not taken:
            return None
        self.held[ticket] = (key, ticket)
        return ticket

    async def give_back(self, user_id: str, ticket: str) -> None:
        held = self.held.pop(ticket, None)
        if held is None or self._client is None:
            return
        with contextlib.suppress(RedisError, OSError):  # it lapses by itself anyway
            await self._client.zrem(*held)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            if not self.held or self._client is None:
                continue
            keys = [key for key, _ in self.held.values()]
            members = [member for _, member in self.held.values()]
            try:
                await _awaited(self._client.eval(RENEW, len(keys), *keys, self.ttl, *members))
            except (RedisError, OSError) as exc:
                log.warning("could not renew open streams in Redis: %s", exc)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self._client is not None:
            await self._client.aclose()


def _awaited(result: Awaitable[Any] | Any) -> Awaitable[Any]:
    """redis-py types `eval` for its sync and async clients alike; ours is async."""
    return cast(Awaitable[Any], result)

