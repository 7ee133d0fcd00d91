"""The dispatcher's per-message statements on SQLite, straight to the driver.

Every command costs a dedupe read (`Store.is_processed`) and, after its handler, one write
transaction for its processed mark and its room's cursor (`Store.record_processed`). Through
SQLAlchemy that was ~0.5 ms of CPU per command (pool checkout and return, event dispatch,
parameter processing: about ten times what SQLite itself spends), a third of the bot's whole
cost per command. Here the same statements, compiled once by SQLAlchemy for the engine's
dialect (one source of SQL), run on one plain `sqlite3` connection per thread.

SQLite files only: PostgreSQL pays a network round trip per statement that dwarfs the library,
and an in-memory database is one connection (a second one would be another, empty database).
Writes take the store's write lock and `BEGIN IMMEDIATE`, as `Store.transaction()` does; the
store falls back to its SQLAlchemy path whenever a fence (the HA lease) must run first.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from bot.store.schema import UTCDateTime


class _Compiled:
    """A statement's SQL for the dialect and its positional parameters, the datetimes bound
    as the store's `UTCDateTime` column type binds them (SQLite keeps them as text)."""

    def __init__(self, statement: Any, dialect: sa.Dialect, datetimes: frozenset[str]) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        binder = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        names: Sequence[str] = compiled.positiontup or ()
        self.params = [(name, binder if name in datetimes else None) for name in names]
        #: the values the statement carries itself (a LIMIT's number)
        self.fixed = {
            name: bind.value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.value is not None
        }

    def bind(self, values: dict[str, Any]) -> list[Any]:
        if self.fixed:
            values = {**self.fixed, **values}
        return [values[n] if f is None else f(values[n]) for n, f in self.params]


class SQLiteHotPath:
    """`is_processed` and `record_processed` for one SQLite file, one connection per thread."""

    def __init__(
        self,
        path: str,
        dialect: sa.Dialect,
        write_lock: threading.RLock,
        statements: dict[str, Any],
        datetimes: frozenset[str],
        busy_timeout_ms: int,
    ) -> None:
        self.path = path
        self.write_lock = write_lock
        self.busy_timeout_ms = busy_timeout_ms
        self.sql = {key: _Compiled(stmt, dialect, datetimes) for key, stmt in statements.items()}
        self._local = threading.local()
        #: every thread's connection, so `close()` can close them
        self._all: dict[threading.Thread, sqlite3.Connection] = {}
        self._lock = threading.Lock()
        self.closed = False

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # the pragmas of `create_engine`'s connections; autocommit: we BEGIN ourselves
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,  # `close()` runs on another thread
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            with self._lock:
                if self.closed:
                    conn.close()
                    raise sqlite3.ProgrammingError("the store is closed")
                # the connections of threads that ended (a short-lived thread's) go now
                for thread in [t for t in self._all if not t.is_alive()]:
                    self._all.pop(thread).close()
                self._all[threading.current_thread()] = conn
            self._local.conn = conn
        return conn

    def execute(self, key: str, values: dict[str, Any]) -> sqlite3.Cursor:
        compiled = self.sql[key]
        return self._conn().execute(compiled.sql, compiled.bind(values))

    def execute_many(self, key: str, rows: list[dict[str, Any]]) -> None:
        compiled = self.sql[key]
        self._conn().executemany(compiled.sql, [compiled.bind(row) for row in rows])

    @contextmanager
    def writing(self) -> Iterator[SQLiteHotPath]:
        """One write transaction (the store's write lock held), committed or rolled back."""
        with self.write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.closed = True
            conns, self._all = list(self._all.values()), {}
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass


def sqlite_file(engine: sa.Engine) -> str | None:
    """The database file of a SQLite engine; None for other backends and in-memory SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return None
    return database
