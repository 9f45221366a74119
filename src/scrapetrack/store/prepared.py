"""The hottest statements, compiled once and run as the driver's own SQL.

Every status poll and every hub read is one small SELECT. Through `Connection.execute` each
costs ~100 µs of Python (execution context, result metadata, row objects) around ~10 µs of
SQLite; here the same Core select is compiled once per dialect and run on a pooled
connection's cursor, and each column's own result processor turns driver values into what
Core would have returned. Rows are named tuples, read by attribute like Core's.

Kept on purpose: the same reads through SQLAlchemy Core and its compiled cache cost the
status route its limit against `/healthz` (re-measured side by side: see the performance
page), so this is the smallest private piece that holds it.

The ingest's upsert is the other hot spot: Core builds and processes every row's parameters
one by one; `Prepared.many` applies only the binds' own processors, and the statement runs
with `exec_driver_sql` inside the caller's transaction.
"""

from __future__ import annotations

import operator
import threading
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from scrapetrack.exceptions import StoreUnavailable

Processor = Callable[[Any], Any]
_UNSET = object()


class Prepared:
    """One Core statement, compiled for one dialect."""

    __slots__ = ("_binds", "_dialect", "_make", "_positional", "_results", "_types", "sql")

    def __init__(self, statement: Select[Any] | Insert | Update, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        names = list(compiled.positiontup or ()) if dialect.positional else list(compiled.binds)
        self._positional = dialect.positional
        # (name, default, processor): a literal in the statement is a bind with its value.
        self._binds: list[tuple[str, Any, Processor | None]] = []
        for name in names:
            bind = compiled.binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self._binds.append((name, bind.effective_value, processor))
        columns = list(statement.selected_columns) if isinstance(statement, Select) else []
        self._dialect = dialect
        self._types = [column.type.dialect_impl(dialect) for column in columns]
        self._results: list[tuple[int, Processor]] | None = None  # at the first rows
        self._make: Callable[[Iterable[Any]], Any] | None = None
        if columns:
            row = namedtuple("Row", [str(c.key) for c in columns])  # type: ignore[misc]
            self._make = row._make

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        out = []
        for name, default, processor in self._binds:
            value = values.get(name, default)
            out.append(processor(value) if processor is not None else value)
        if self._positional:
            return out
        return {name: value for (name, _, _), value in zip(self._binds, out, strict=True)}

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> CursorResult[Any]:
        """Run once in `connection`'s transaction (a write, or a read that must see it)."""
        params = self.params(values)
        return connection.exec_driver_sql(self.sql, params if isinstance(params, dict)
                                          else tuple(params))

    def fetch(self, connection: Connection, values: Mapping[str, Any]) -> list[Any]:
        """A select's rows, read in `connection`'s transaction."""
        result = self.execute(connection, values)
        description = result.cursor.description
        return self.rows(description, result.fetchall())

    def many(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Parameters for executemany: every bind taken from each row, processed. A page's
        rows repeat values (one timestamp, None, False): a value that is the previous row's
        object is not processed again."""
        names = [name for name, _, _ in self._binds]
        take = operator.itemgetter(*names)
        table = [list(take(row)) for row in rows]
        for i, (_, _, processor) in enumerate(self._binds):
            if processor is None:
                continue
            last_in: Any = _UNSET
            last_out: Any = None
            for values in table:
                if values[i] is not last_in:
                    last_in, last_out = values[i], processor(values[i])
                values[i] = last_out
        if self._positional:
            return [tuple(values) for values in table]
        return [dict(zip(names, values, strict=True)) for values in table]

    def rows(self, description: Sequence[Sequence[Any]],
             raw: Sequence[Sequence[Any]]) -> list[Any]:
        if self._results is None:  # some processors depend on the driver's column types
            self._results = [
                (i, p) for i, (kind, column) in enumerate(zip(self._types, description,
                                                               strict=True))
                if (p := kind.result_processor(self._dialect, column[1])) is not None]
        assert self._make is not None, "not a select"
        if not self._results:
            return [self._make(row) for row in raw]
        made = []
        for row in raw:
            values = list(row)
            for i, processor in self._results:
                values[i] = processor(values[i])
            made.append(self._make(values))
        return made


class DriverStatements:
    """Prepared statements of one engine. Reads run on a server's pooled connections
    (pre-pinged at each checkout), or on one held connection per thread for a SQLite file: a
    local file cannot go away the way a server can, and a pool checkout costs more than the
    read. Writes run inside the caller's transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._prepared: dict[Any, Prepared] = {}
        self._held = threading.local() if engine.dialect.name == "sqlite" else None
        # Every thread's, with its thread, to close them all.
        self._opened: list[tuple[threading.Thread, PoolProxiedConnection]] = []
        self._opening = threading.Lock()
        dbapi = engine.dialect.loaded_dbapi
        self._lost: tuple[type[Exception], ...] = (dbapi.OperationalError, dbapi.InterfaceError)

    def prepare(self, key: Any,
                build: Callable[[], Select[Any] | Insert | Update]) -> Prepared:
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = Prepared(build(), self.engine.dialect)
        return prepared

    def all(self, prepared: Prepared, values: Mapping[str, Any]) -> list[Any]:
        if self._held is None:
            with self._pooled_cursor() as cursor:
                cursor.execute(prepared.sql, prepared.params(values))
                return prepared.rows(cursor.description, cursor.fetchall())
        cursor = self._held_cursor(self._held)
        try:
            cursor.execute(prepared.sql, prepared.params(values))
            return prepared.rows(cursor.description, cursor.fetchall())
        except self._lost as exc:
            # The file went away: this connection is never used again.
            conn, self._held.conn, self._held.cursor = self._held.conn, None, None
            conn.close()
            raise StoreUnavailable(f"The database is unavailable: {exc}") from exc

    def first(self, prepared: Prepared, values: Mapping[str, Any]) -> Any:
        rows = self.all(prepared, values)
        return rows[0] if rows else None

    def _connect(self) -> PoolProxiedConnection:
        try:
            return self.engine.raw_connection()
        except DBAPIError as exc:  # the pool wraps a failed connect
            raise StoreUnavailable(f"The database is unavailable: {exc.orig or exc}") from exc

    def _held_cursor(self, local: threading.local) -> Any:
        """This thread's SQLite connection and cursor, kept: the hub reads on every change.
        Those of threads that have ended (a server's request threads come and go) are closed
        as a new one opens."""
        cursor = getattr(local, "cursor", None)
        if cursor is None:
            local.conn = self._connect()
            local.conn.detach()  # out of the pool, which may open another in its place
            with self._opening:
                ended = [conn for thread, conn in self._opened if not thread.is_alive()]
                self._opened = [(thread, conn) for thread, conn in self._opened
                                if thread.is_alive()]
                self._opened.append((threading.current_thread(), local.conn))
            _close_all(ended)
            cursor = local.cursor = local.conn.cursor()
        return cursor

    def close(self) -> None:
        """Close every thread's held connection (a thread using one next opens another)."""
        with self._opening:
            opened, self._opened = [conn for _, conn in self._opened], []
        _close_all(opened)
        if self._held is not None:
            self._held = threading.local()

    @contextmanager
    def _pooled_cursor(self) -> Iterator[Any]:
        conn = self._connect()
        try:
            cursor = conn.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
        except self._lost as exc:
            # The server went away: this connection is never used again.
            conn.invalidate(exc)
            raise StoreUnavailable(f"The database is unavailable: {exc}") from exc
        finally:
            conn.close()


def _close_all(connections: Iterable[PoolProxiedConnection]) -> None:
    for conn in connections:
        with suppress(Exception):  # already closed, by a read that found the file gone
            conn.close()
