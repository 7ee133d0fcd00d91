"""`Store`: the engine, transactions and the runtime's own small queries.

SQLite is the default and needs care to be safe under threads: WAL so readers never block the
writer, a busy timeout so writers queue instead of failing, and `BEGIN IMMEDIATE` for
`transaction()` so a read-modify-write takes the write lock up front (a deferred BEGIN would let two
transactions read the same state and then one fail, or worse, both decide). Only portable SQL is
used, so another SQLAlchemy URL (PostgreSQL) works as well.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event

from bot.rocketchat.models import User
from bot.store import migrations
from bot.store.schema_runtime import events, kv, processed_messages, room_cursors, users_cache

_IMMEDIATE = "omnicat_immediate"
BUSY_TIMEOUT_MS = 30_000


@dataclass(frozen=True, slots=True)
class Cursor:
    """The newest message of a room the bot has processed: catch-up starts here."""

    rid: str
    last_ts: datetime
    last_msg_id: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the append-only events log."""

    id: int
    at: datetime
    actor: str | None
    kind: str
    conversation_id: str | None
    from_state: str | None
    to_state: str | None
    comment: str | None
    data: dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


def _revision(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):  # Message.version is (id, stamp): the stamp is the revision
        value = value[-1]
    return value if isinstance(value, str) else repr(value)


def create_engine(url: str) -> sa.Engine:
    """An engine configured for safe concurrent use (SQLite pragmas, our own BEGIN)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
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
        cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster commits
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Store:
    """The database: migrations at open, `transaction()`, and the runtime's queries."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        if migrate:
            self.upgrade()

    def upgrade(self) -> list[str]:
        """Apply missing migrations; the names applied."""
        return migrations.upgrade(self.engine, self.transaction)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A connection inside one write transaction, committed on success, rolled back on error."""
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A connection for reads only (a deferred transaction: never blocks writers in WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    # --- processed messages ----------------------------------------------------------------

    def mark_processed(self, msg_id: str, revision: Any, rid: str) -> bool:
        """Record a message revision as processed; False when it already was."""
        rev = _revision(revision)
        try:
            with self.transaction() as conn:
                seen = conn.execute(
                    sa.select(processed_messages.c.msg_id).where(
                        processed_messages.c.msg_id == msg_id,
                        processed_messages.c.revision == rev,
                    )
                ).first()
                if seen:
                    return False
                conn.execute(
                    processed_messages.insert().values(
                        msg_id=msg_id, revision=rev, rid=rid, processed_at=_now()
                    )
                )
        except sa.exc.IntegrityError:  # a concurrent writer on a non-SQLite backend won
            return False
        return True

    def is_processed(self, msg_id: str, revision: Any = None) -> bool:
        """Whether this revision (or, with revision None, any revision) was processed."""
        query = sa.select(processed_messages.c.msg_id).where(processed_messages.c.msg_id == msg_id)
        if revision is not None:
            query = query.where(processed_messages.c.revision == _revision(revision))
        with self.reading() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def prune_processed(self, older_than: datetime) -> int:
        """Forget processed ids older than the catch-up window can reach."""
        with self.transaction() as conn:
            result = conn.execute(
                processed_messages.delete().where(processed_messages.c.processed_at < older_than)
            )
            return result.rowcount or 0

    # --- room cursors ----------------------------------------------------------------------

    def cursor(self, rid: str) -> Cursor | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(room_cursors).where(room_cursors.c.rid == rid)).first()
        return Cursor(**row._mapping) if row else None

    def cursors(self) -> list[Cursor]:
        with self.reading() as conn:
            rows = conn.execute(sa.select(room_cursors).order_by(room_cursors.c.rid)).all()
        return [Cursor(**row._mapping) for row in rows]

    def advance_cursor(self, rid: str, ts: datetime, msg_id: str | None = None) -> bool:
        """Move a room's cursor forward to `ts`; never backwards. True when it moved."""
        now = _now()
        with self.transaction() as conn:
            row = conn.execute(
                sa.select(room_cursors.c.last_ts).where(room_cursors.c.rid == rid)
            ).first()
            if row is None:
                conn.execute(
                    room_cursors.insert().values(
                        rid=rid, last_ts=ts, last_msg_id=msg_id, updated_at=now
                    )
                )
                return True
            if ts <= row.last_ts:
                return False
            conn.execute(
                room_cursors.update()
                .where(room_cursors.c.rid == rid)
                .values(last_ts=ts, last_msg_id=msg_id, updated_at=now)
            )
            return True

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
        return [
            Event(**{**row._mapping, "data": json.loads(row.data) if row.data else {}})
            for row in rows
        ]

    # --- users cache -----------------------------------------------------------------------

    def cache_user(self, user: User) -> None:
        """Insert or refresh a user (a username may move to another id: the old row goes)."""
        values = {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "roles": json.dumps(list(user.roles)),
            "utc_offset": user.utc_offset,
            "emails": json.dumps(list(user.emails)),
            "status": user.status,
            "active": user.active,
            "type": user.type,
            "updated_at": _now(),
        }
        with self.transaction() as conn:
            conn.execute(
                users_cache.delete().where(
                    users_cache.c.username == user.username, users_cache.c.id != user.id
                )
            )
            updated = conn.execute(
                users_cache.update().where(users_cache.c.id == user.id).values(**values)
            )
            if not updated.rowcount:
                conn.execute(users_cache.insert().values(**values))

    def cached_user(self, key: str) -> User | None:
        """A cached user by id or username (`@name` accepted)."""
        name = key[1:] if key.startswith("@") else key
        query = sa.select(users_cache).where(
            sa.or_(users_cache.c.id == key, users_cache.c.username == name)
        )
        with self.reading() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return None
        row = next((r for r in rows if r.id == key), rows[0])
        return User(
            id=row.id,
            username=row.username,
            name=row.name,
            roles=tuple(json.loads(row.roles or "[]")),
            status=row.status or "offline",
            utc_offset=row.utc_offset,
            emails=tuple(json.loads(row.emails or "[]")),
            active=bool(row.active),
            type=row.type or "user",
        )

    def cached_user_updated_at(self, key: str) -> datetime | None:
        """When a user was cached, so callers can decide to refresh."""
        with self.reading() as conn:
            row = conn.execute(
                sa.select(users_cache.c.updated_at).where(
                    sa.or_(users_cache.c.id == key, users_cache.c.username == key.lstrip("@"))
                )
            ).first()
        return row[0] if row else None

    # --- key/value -------------------------------------------------------------------------

    def kv_get(self, key: str, default: str | None = None) -> str | None:
        with self.reading() as conn:
            row = conn.execute(sa.select(kv.c.value).where(kv.c.key == key)).first()
        return row[0] if row else default

    def kv_set(self, key: str, value: str | None) -> None:
        with self.transaction() as conn:
            updated = conn.execute(kv.update().where(kv.c.key == key).values(value=value))
            if not updated.rowcount:
                conn.execute(kv.insert().values(key=key, value=value))
