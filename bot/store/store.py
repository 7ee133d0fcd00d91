"""`Store`: transactions on the engine (built in `engine.py`) and the runtime's own small queries.

SQLite is the default and needs care to be safe under threads: WAL so readers never block the
writer, a busy timeout so writers queue instead of failing, and `BEGIN IMMEDIATE` for
`transaction()` so a read-modify-write takes the write lock up front (a deferred BEGIN would let two
transactions read the same state and then one fail, or worse, both decide).

PostgreSQL (`postgresql+psycopg://…`, psycopg 3; a bare `postgresql://` gets that driver too) runs
at READ COMMITTED: the compare-and-set UPDATEs (`… WHERE revision = :expected`) wait for a
concurrent writer of the same row and then re-check their WHERE against the committed row, so of
two takes exactly one matches. Inserts that may race ("update, else insert") use the dialect's
`ON CONFLICT DO NOTHING` (`insert_ignore`), since a failed INSERT would abort the whole
PostgreSQL transaction. With high availability on, every write transaction first runs the
lease's fence (`bot/runtime/lease.py`), so an instance that lost the lease writes nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.events import Event
from bot.store import migrations
from bot.store.engine import IMMEDIATE, create_engine, insert_ignore, normalize_url
from bot.store.hotpath import SQLiteHotPath
from bot.store.pending_marks import PendingMarks
from bot.store.processed import (  # noqa: F401  (`Cursor`: re-exported, its public path)
    Cursor,
    ProcessedMarks,
    _now,
    ingest_hot_path,
    insert_new_marks,
)
from bot.store.schema_runtime import events, kv


def _event(row: sa.Row[Any]) -> Event:
    """A row of the events log as the domain's `Event` (`conversation_id` is stored as text)."""
    number = row.conversation_id
    return Event(
        actor=row.actor,
        at=row.at,
        kind=row.kind,
        conversation=int(number) if number is not None and number.isdigit() else None,
        from_state=row.from_state,
        to_state=row.to_state,
        comment=row.comment,
        data=json.loads(row.data) if row.data else {},
        id=row.id,
    )


class Store(ProcessedMarks):
    """The database: migrations at open, `transaction()`, and the runtime's queries."""

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        fence: Callable[[sa.Connection], None] | None = None,
        idle_tx_timeout: float | None = None,
        sole_writer: bool = False,
    ) -> None:
        """`sole_writer`: no other process writes this database's processed marks (the bot
        without HA says so): a message never marked is then known from memory."""
        self.url = normalize_url(url)
        self.engine = create_engine(self.url, idle_tx_timeout=idle_tx_timeout)
        #: run first in every write transaction; raises (e.g. `lease.Fenced`) to refuse it
        self.fence = fence
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
        # SQLite's busy handler (1, 2, 5 … 100 ms steps): with several room workers that sleep,
        # not the work, was the cost of a write. Our own writers queue on this lock instead and
        # get the database as soon as it is free. Re-entrant, so a nested `transaction()` on
        # one thread behaves as before (it waits on SQLite, not on us).
        # PostgreSQL keeps it too: READ COMMITTED alone would let two of our threads' read-
        # modify-writes (a contact's merged fields, a counter) lose an update, and one writer
        # per process is what the code above the store was built and tested against. Between
        # processes the compare-and-set UPDATEs and the lease's fence keep it safe.
        self._write_lock = threading.RLock()
        #: write transactions begun so far, both paths (counted under the write lock)
        self.write_transactions = 0
        self._mark_new = insert_new_marks(self.engine.dialect.name)
        if migrate:
            self.upgrade()
        self._hot = ingest_hot_path(self.engine, self._write_lock)
        self._pending = PendingMarks(self._record_now) if self._hot is not None else None
        self._marks_filter = self._new_marks_filter()
        # started by the first mark; never where another process may write marks
        self._marks_filter_to_start = sole_writer

    def upgrade(self) -> list[str]:
        """Apply missing migrations; the names applied."""
        # not fenced: a schema change is no act of the desk's, and a standby's Store opens
        # before its instance holds the lease (the advisory lock keeps them one at a time)
        return migrations.upgrade(self.engine, lambda: self.transaction(fenced=False))

    @contextmanager
    def transaction(self, *, fenced: bool = True) -> Iterator[sa.Connection]:
        """A connection inside one write transaction, committed on success, rolled back on error."""
        with self._write_lock, self.engine.connect() as conn:
            self.write_transactions += 1
            if self.is_sqlite:
                conn = conn.execution_options(**{IMMEDIATE: True})
            with conn.begin():
                if fenced and self.fence is not None:
                    self.fence(conn)
                yield conn

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A connection for reads only (a deferred transaction: never blocks writers in WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self._marks_filter.close()
        if self._pending is not None:
            self._pending.close()  # the marks that wait are written first
        if self._hot is not None:
            self._hot.close()
        self.engine.dispose()

    @property
    def hot_path(self) -> SQLiteHotPath | None:
        """The driver-level path of the per-message statements (a SQLite file); None on other
        databases."""
        return self._hot

    def _hot_path(self, *, writing: bool) -> SQLiteHotPath | None:
        """The driver-level path for the per-message statements, when it may be used: a
        write that must run the fence first (the HA lease) takes the SQLAlchemy path."""
        hot = self._hot
        if hot is None or hot.closed or (writing and self.fence is not None):
            return None
        return hot

    # --- events log ------------------------------------------------------------------------

    def append_event(
        self,
        kind: str,
        *,
        actor: str | None = None,
        conversation_id: str | int | None = None,
        from_state: str | None = None,
        to_state: str | None = None,
        comment: str | None = None,
        data: Mapping[str, Any] | None = None,
        at: datetime | None = None,
        conn: sa.Connection | None = None,
    ) -> int:
        """Append one event; pass `conn` to make it part of a caller's transaction."""
        values = {
            "at": at or _now(),
            "actor": actor,
            "kind": kind,
            "conversation_id": None if conversation_id is None else str(conversation_id),
            "from_state": from_state,
            "to_state": to_state,
            "comment": comment,
            "data": json.dumps(dict(data), default=str, sort_keys=True) if data else None,
        }
        if conn is not None:
            return conn.execute(events.insert().values(**values)).inserted_primary_key[0]
        with self.transaction() as own:
            return own.execute(events.insert().values(**values)).inserted_primary_key[0]

    def events(self, conversation_id: str | int | None = None) -> list[Event]:
        """Events in the order they happened, all or for one conversation."""
        query = sa.select(events).order_by(events.c.id)
        if conversation_id is not None:
            query = query.where(events.c.conversation_id == str(conversation_id))
        with self.reading() as conn:
            rows = conn.execute(query).all()
        return [_event(row) for row in rows]

    # --- key/value -------------------------------------------------------------------------

    def kv_get(self, key: str, default: str | None = None) -> str | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(kv.c.value).where(kv.c.key == key)).first()
        return row[0] if row else default

    def kv_set(self, key: str, value: str | None) -> None:
        with self.transaction() as conn:
            updated = conn.execute(kv.update().where(kv.c.key == key).values(value=value))
            if not updated.rowcount and not insert_ignore(
                conn, kv, {"key": key, "value": value}, ["key"]
            ):  # a concurrent kv_set inserted it first: ours is the later value
                conn.execute(kv.update().where(kv.c.key == key).values(value=value))
