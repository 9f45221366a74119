"""Engines: SQLite tuned for one writer and many readers, PostgreSQL through psycopg 3."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def make_engine(url: str, *, pool_size: int = 10, overflow: int = 5) -> Engine:
    """An engine for `url`; the folder of a SQLite file is created when missing. At most
    `pool_size + overflow` connections per process."""
    path = sqlite_path(url)
    if path is not None:
        private_file(path)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=pool_size, max_overflow=overflow,
                               json_serializer=json_text)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=overflow, pool_pre_ping=True,
                         json_serializer=json_text)


def json_text(value: object) -> str:
    """JSON columns keep text as typed (not as \\u escapes), so a search finds "café"."""
    return json.dumps(value, ensure_ascii=False)


def private_file(path: Path) -> None:
    """Create the file (and its folder) readable by its owner alone, before SQLite opens it:
    SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    with contextlib.suppress(PermissionError):  # a file from before, made wider: narrowed
        os.chmod(path, 0o600)


def writer(engine: Engine) -> Engine:
    """The same pool, but a SQLite transaction takes the write lock at BEGIN: a deferred one
    that reads and then writes fails at once, without waiting, when another writer got in."""
    return engine.execution_options(sqlite_begin="IMMEDIATE")


def reader(engine: Engine) -> Engine:
    """The same pool for reads. On SQLite no BEGIN is sent: each SELECT is then its own
    consistent snapshot, and a read skips a statement (most of a point read's cost)."""
    return engine.execution_options(sqlite_begin=None)


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    if mode is not None:
        conn.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # autocommit at the driver; SQLAlchemy issues BEGIN
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
