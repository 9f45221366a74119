"""Short ids: the CLI shows the first 8 characters of an id and takes them back.

A prefix is resolved against the ids its owner may see (the caller lists them): one match
is the id, none is NotFound, several is InputError naming them. A whole id is taken as is,
without a listing, so scripts pay nothing for this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from scrapetrack.exceptions import InputError, NotFound

SHORT = 8
WHOLE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def short(value: str) -> str:
    """A UUID's first 8 characters; anything else as it is."""
    return value[:SHORT] if WHOLE.fullmatch(value) else value


def is_whole(ref: str) -> bool:
    return bool(WHOLE.fullmatch(ref.strip().lower()))


def resolve(ref: str, ids: Callable[[], Iterable[str]], noun: str) -> str:
    """The one id of `ids()` that `ref` is, or starts with."""
    ref = ref.strip().lower()
    if is_whole(ref):
        return ref
    if not ref:
        raise InputError(f"Give a {noun} id (its first {SHORT} characters are enough)")
    matches = sorted({found for found in ids() if found.startswith(ref)})
    if not matches:
        raise NotFound(f"{noun.capitalize()} not found: no {noun} of yours starts with "
                       f"{ref!r}")
    if len(matches) > 1:
        shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
        raise InputError(f"{ref!r} is the start of {len(matches)} {noun}s ({shown}): give "
                         "more of the id")
    return matches[0]
