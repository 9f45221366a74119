"""The credential cache: kept for its time and no longer than the credential's own expiry,
bounded, forgotten on revocation, and one read for misses of one key at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from scrapetrack.credential_cache import CredentialCache, Found
from tests.conftest import wait_until

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def reader(value: str, expires_at: datetime | None = None, credentials: tuple[str, ...] = ("t1",),
           ) -> tuple[list[int], Callable[[], Found[str] | None]]:
    reads = [0]

    def read() -> Found[str] | None:
        reads[0] += 1
        return Found(value, credentials, expires_at)

    return reads, read


def test_an_answer_is_kept_for_its_time_then_read_again() -> None:
    clock = Clock()
    cache = CredentialCache[str](5.0, clock=clock)
    reads, read = reader("alice")
    assert cache.get("k", NOW, read) == "alice"
    clock.now = 4.9
    assert cache.get("k", NOW, read) == "alice"
    assert reads == [1]
    clock.now = 5.1
    assert cache.get("k", NOW, read) == "alice"
    assert reads == [2]


def test_a_kept_answer_ends_with_its_credential() -> None:
    cache = CredentialCache[str](60.0, clock=Clock())
    reads, read = reader("alice", expires_at=NOW + timedelta(seconds=1))
    cache.get("k", NOW, read)
    assert cache.get("k", NOW + timedelta(milliseconds=999), read) == "alice"
    assert reads == [1]
    cache.get("k", NOW + timedelta(seconds=1), read)
    assert reads == [2]


def test_nothing_found_is_never_kept_and_off_means_off() -> None:
    cache = CredentialCache[str](60.0, clock=Clock())
    misses = [0]

    def missing() -> Found[str] | None:
        misses[0] += 1
        return None

    assert cache.get("k", NOW, missing) is None
    assert cache.get("k", NOW, missing) is None
    assert misses == [2]
    off = CredentialCache[str](0.0)
    reads, read = reader("alice")
    off.get("k", NOW, read)
    off.get("k", NOW, read)
    assert reads == [2]


def test_revoking_here_forgets_at_once_and_the_size_is_bounded() -> None:
    cache = CredentialCache[str](60.0, size=2, clock=Clock())
    counts: dict[str, list[int]] = {}
    for key, credentials in (("a", ("s1", "t1")), ("b", ("t2",))):
        counts[key], read = reader(key, credentials=credentials)
        cache.get(key, NOW, read)
    cache.forget(["t1"])  # the token that opened session s1
    _, again = reader("a", credentials=("s1", "t1"))
    cache.get("a", NOW, again)
    assert counts["a"] == [1]  # the second read was `again`'s
    # A third key pushes out the oldest ("b"; "a" was read again after it).
    cache.get("c", NOW, reader("c")[1])
    cache.get("a", NOW, reader("a")[1])
    assert counts["b"] == [1]
    reads, read = reader("b")
    cache.get("b", NOW, read)
    assert reads == [1]


def test_misses_at_the_same_moment_share_one_read() -> None:
    cache = CredentialCache[str](5.0)
    release, reads = threading.Event(), [0]

    def slow() -> Found[str] | None:
        reads[0] += 1
        release.wait(10)
        return Found("alice", ("t1",), None)

    answers: list[str | None] = []
    threads = [threading.Thread(target=lambda: answers.append(cache.get("k", NOW, slow)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_until(lambda: reads[0] == 1, 10, "the first read")
    release.set()
    for thread in threads:
        thread.join(10)
    assert answers == ["alice"] * 8 and reads == [1]


def test_a_read_begun_before_a_revocation_is_not_kept() -> None:
    cache = CredentialCache[str](60.0)

    def read_then_revoked() -> Found[str] | None:
        cache.forget(["t1"])  # revoked here while the read was on its way
        return Found("alice", ("t1",), None)

    assert cache.get("k", NOW, read_then_revoked) == "alice"
    reads, read = reader("alice")
    cache.get("k", NOW, read)
    assert reads == [1]


def test_a_failed_read_keeps_nothing() -> None:
    cache = CredentialCache[str](60.0)

    def broken() -> Found[str] | None:
        raise RuntimeError("the database is restarting")

    with pytest.raises(RuntimeError):
        cache.get("k", NOW, broken)
    reads, read = reader("alice")
    assert cache.get("k", NOW, read) == "alice"
    assert reads == [1]
