"""Whom a token or a browser session is, remembered for a few seconds in one process.

When a web process restarts, every page it served reconnects its event stream at once, and
each connect used to read its token or session before what it watches. An answer kept here
is used while both its time here (`seconds`) and the credential's own expiry last. A
revocation made through this process forgets it at once; one made elsewhere is seen once
its time here is up. Open streams do not rest on this: the hub checks their credentials in
the store.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

V = TypeVar("V")


class Found(NamedTuple, Generic[V]):
    """What a read of the store gave: the value, the credentials it rests on (token, session
    and opener ids) and when the first of them expires (None: never)."""

    value: V
    credentials: tuple[str, ...]
    expires_at: datetime | None


class _Kept(NamedTuple, Generic[V]):
    found: Found[V]
    until: float  # monotonic


class CredentialCache(Generic[V]):
    """At most `size` answers, each for `seconds` (0: none kept). Misses of one key at the
    same moment share one read of the store."""

    def __init__(self, seconds: float = 0.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self._clock = clock
        self._kept: dict[Hashable, _Kept[V]] = {}
        self._reading: dict[Hashable, Future[Found[V] | None]] = {}
        self._lock = threading.Lock()
        # Moved on by every forget(): a read begun before a revocation keeps nothing.
        self._generation = 0

    def kept(self, key: Hashable, now: datetime) -> V | None:
        """The value for `key` if it is kept and still good; never reads, never waits."""
        with self._lock:
            return self._good(key, now)

    def get(self, key: Hashable, now: datetime,
            read: Callable[[], Found[V] | None]) -> V | None:
        """The value for `key`: kept, or read (None when the store has none, never kept)."""
        if self.seconds <= 0:
            found = read()
            return None if found is None else found.value
        with self._lock:
            if (good := self._good(key, now)) is not None:
                return good
            waiting = self._reading.get(key)
            if waiting is None:
                self._reading[key] = mine = Future[Found[V] | None]()
                generation = self._generation
        if waiting is not None:  # another thread is reading it: its answer is ours
            shared = waiting.result()
            return None if shared is None else shared.value
        try:
            found = read()
        except BaseException as exc:
            with self._lock:
                del self._reading[key]
            mine.set_exception(exc)
            raise
        with self._lock:
            del self._reading[key]
            if found is not None and generation == self._generation:
                if len(self._kept) >= self.size:
                    del self._kept[next(iter(self._kept))]  # the oldest
                self._kept[key] = _Kept(found, self._clock() + self.seconds)
        mine.set_result(found)
        return None if found is None else found.value

    def _good(self, key: Hashable, now: datetime) -> V | None:
        """Under the lock: the kept value while its time here and its expiry last."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        expires = kept.found.expires_at
        if kept.until > self._clock() and (expires is None or expires > now):
            return kept.found.value
        del self._kept[key]
        return None

    def forget(self, credentials: Iterable[str]) -> None:
        """Drop every answer resting on one of these credentials (revoked here)."""
        gone = set(credentials)
        with self._lock:
            self._generation += 1
            for key in [k for k, kept in self._kept.items()
                        if gone.intersection(kept.found.credentials)]:
                del self._kept[key]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._kept.clear()
