"""The database engine: SQLite made safe under threads (WAL, a busy timeout, our own
`BEGIN IMMEDIATE`) or PostgreSQL on psycopg 3, and the one race-free "insert unless present"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event

#: the execution option a `Store.transaction()` sets so its BEGIN is IMMEDIATE (SQLite)
IMMEDIATE = "omnicat_immediate"
BUSY_TIMEOUT_MS = 30_000


def insert_ignore(
    conn: sa.Connection, table: sa.Table, values: Mapping[str, Any], keys: Sequence[str]
) -> bool:
    """Insert a row unless one with the same `keys` exists; True when it was inserted.

    "Update, else insert" is a race on PostgreSQL (two transactions both miss the update); the
    dialect's ON CONFLICT turns the loser's insert into a no-op instead of an error that would
    abort its transaction. SQLite has one writer at a time, but says the same just as cheaply."""
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    else:
        stmt = table.insert().values(**values)
    return bool(conn.execute(stmt).rowcount)


def normalize_url(url: str) -> str:
    """`postgresql://…` means psycopg 3 here (SQLAlchemy's own default is psycopg2)."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def create_engine(url: str, *, idle_tx_timeout: float | None = None) -> sa.Engine:
    """An engine configured for safe concurrent use (SQLite pragmas, our own BEGIN).

    `idle_tx_timeout` (PostgreSQL, seconds): the server ends a session that sits idle inside a
    transaction that long. High availability sets it, so a frozen instance (SIGSTOP) cannot keep
    the row locks of a half-done transaction, and with them block the standby's takeover."""
    url = normalize_url(url)
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs = {}
        if parsed.get_backend_name() == "postgresql":
            options = ["-c timezone=UTC"]
            if idle_tx_timeout:
                ms = max(1000, int(idle_tx_timeout * 1000))
                options.append(f"-c idle_in_transaction_session_timeout={ms}")
            # a pool about the size of the dispatcher's worker pool, so room workers do not
            # queue for a connection under load
            kwargs = {
                "connect_args": {"options": " ".join(options), "connect_timeout": 10},
                "pool_size": 10,
                "max_overflow": 20,
            }
        return sa.create_engine(url, pool_pre_ping=True, **kwargs)
    kwargs: dict[str, Any] = {}
    if parsed.database in (None, "", ":memory:"):
        # One shared in-memory database (the default pool would give each thread its own, empty
        # one). Meant for quick single-threaded tests; concurrent tests should use a file.
        kwargs["poolclass"] = sa.pool.StaticPool
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        **kwargs,
    )

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy's documented pysqlite recipe: stop the driver's own implicit BEGIN so we
        # can emit the BEGIN we need (IMMEDIATE) and DDL stays transactional.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        # With WAL, NORMAL syncs at checkpoints instead of every commit: a committed transaction
        # survives the process dying (kill -9, a crash), which is what the processed marks and
        # cursors rely on; only an OS crash or power loss can take the last few commits back
        # (the database stays consistent; the lost messages are then replayed from history).
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE)
        # Straight to the driver: a whole SQLAlchemy statement execution per BEGIN was a
        # fifth of the cost of storing a message.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
