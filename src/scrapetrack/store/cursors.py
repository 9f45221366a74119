"""Opaque cursors for keyset paging: the last row's sort values, as URL-safe text."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from scrapetrack.exceptions import InputError

MAX_LENGTH = 512


def encode(*values: Any) -> str:
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, size: int) -> list[Any]:
    """The values a cursor of `size` values carries; InputError for anything else."""
    try:
        if len(cursor) > MAX_LENGTH:
            raise ValueError
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        raise InputError("cursor is not one this list gave") from None
    if not isinstance(values, list) or len(values) != size:
        raise InputError("cursor is not one this list gave")
    return values
