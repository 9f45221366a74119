"""What the store's lists share: opaque cursors for keyset paging (the last row's sort
values, as URL-safe text), and a filter for text anywhere in some columns."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.orm import InstrumentedAttribute

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


def contains(text: str, *columns: ColumnElement[Any] | InstrumentedAttribute[Any],
             ) -> ColumnElement[bool]:
    """Any of `columns` holds `text`, case ignored; `%` and `_` are only themselves."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(*(func.lower(column).like(f"%{escaped}%", escape="\\") for column in columns))
