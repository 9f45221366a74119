"""Datetimes come back aware and in UTC, whatever text SQLite holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from scrapetrack.store.models import UTCDateTime


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-29 15:11:04.123456", datetime(2026, 11, 29, 15, 11, 4, 123456, tzinfo=UTC)),
    ("2026-11-29 15:11:04", datetime(2026, 11, 29, 15, 11, 4, tzinfo=UTC)),  # CURRENT_TIMESTAMP
    ("2026-11-29T17:11:04+02:00", datetime(2026, 11, 29, 15, 11, 4, tzinfo=UTC)),
    (None, None),
])
def test_sqlite_text_becomes_aware_utc(text: str | None, expected: datetime | None) -> None:
    dialect = sqlite.dialect()
    parse = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert parse is not None
    value = parse(text)
    assert value == expected
    assert value is None or value.tzinfo is UTC


def test_sqlite_binds_and_reads_back_the_same_instant() -> None:
    dialect = sqlite.dialect()
    kind = UTCDateTime().dialect_impl(dialect)
    bind, parse = kind.bind_processor(dialect), kind.result_processor(dialect, None)
    assert bind is not None and parse is not None
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-5)))
    assert parse(bind(UTCDateTime().process_bind_param(moment, dialect))) == moment


def test_other_dialects_keep_the_type_decorators_own_path() -> None:
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    parse = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert parse is not None
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    value = parse(moment)
    assert value == moment and value.tzinfo is UTC
