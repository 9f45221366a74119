"""A consistent copy of the embedded SQLite database, taken while it serves.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the pages of the live file
as one read transaction sees them. Under WAL that reader does not block the server's writer,
and the copy is the database as of one commit, never half of one. PostgreSQL has its own
tool for this, `pg_dump`: `postgres_advice` says how to run it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from scrapetrack.exceptions import ConfigError, Conflict, ScrapetrackError
from scrapetrack.store.db import sqlite_path

# What `scrapetrack backup` says it copied (table: what a person calls its rows).
COUNTED = (("users", "users"), ("campaigns", "campaigns"), ("scraping_jobs", "searches"),
           ("creators", "creators"))


@dataclass(frozen=True)
class Backup:
    source: Path
    target: Path
    size: int
    counts: dict[str, int]


def backup(database_url: str, target: Path, *, force: bool = False) -> Backup:
    """Copy the SQLite database of `database_url` to `target`, a file of its own (no -wal
    beside it), checked before it takes the name: an interrupted backup leaves no file
    that looks whole."""
    source = sqlite_path(database_url)
    if source is None:
        raise ConfigError(postgres_advice(database_url, target))
    if not source.is_file():
        raise ConfigError(f"there is no database at {source} (DATABASE_URL); "
                          "`scrapetrack migrate` creates it")
    if target.exists() and not force:
        raise Conflict(f"{target} exists: give --force to replace it")
    if target.resolve() == source.resolve():
        raise ConfigError("the backup cannot replace the database it copies")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    # The copy holds everything the database does: its owner alone reads it.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        counts = _copy(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Backup(source, target, target.stat().st_size, counts)


def _copy(source: Path, target: Path) -> dict[str, int]:
    live = sqlite3.connect(source, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            # All pages in one step: one read transaction, so one consistent snapshot. In
            # steps, every write the server commits between two would restart the copy.
            live.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise ScrapetrackError(f"the copy fails SQLite's integrity check: "
                                       f"{problems[:5]}")
            return {label: _count(copy, table) for table, label in COUNTED}
        finally:
            copy.close()
    finally:
        live.close()


def _count(db: sqlite3.Connection, table: str) -> int:
    with contextlib.suppress(sqlite3.OperationalError):  # a database not migrated yet
        return int(db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
    return 0


def size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def postgres_advice(database_url: str, target: Path) -> str:
    """How to back up a database that is not SQLite (PostgreSQL: pg_dump), its password
    hidden: pg_dump takes it from PGPASSWORD or ~/.pgpass."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return f"scrapetrack backup copies SQLite databases; use {url.get_backend_name()}'s " \
               "own backup tool"
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                       database=url.database, query=url.query).render_as_string()
    return ("DATABASE_URL is PostgreSQL: back it up with pg_dump, which takes a consistent "
            f"copy while it serves:\n  pg_dump --format=custom --file={target} '{plain}'\n"
            "(the password from PGPASSWORD or ~/.pgpass; restore with pg_restore, see "
            "docs/backup.md)")
