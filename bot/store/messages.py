"""The repository of conversation messages: every revision the bot sees, kept current.

`MessageRepo(store)` needs only what docs/internals.md promises of `Store`: `.engine` and
`.transaction()`. Writes are upserts keyed by message id and guarded by the revision stamp
(`Message.version`), so catch-up after a reconnect and out-of-order events are harmless.

The repo also counts writes per room (`generation(rid)`); the search engine uses that to know
when its in-memory copy of a room's text is stale without asking the database.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from weakref import WeakKeyDictionary

import sqlalchemy as sa

from bot.chat.types import Message
from bot.store.schema_messages import message_files, messages


class StoreLike(Protocol):
    @property
    def engine(self) -> sa.Engine: ...

    def transaction(self) -> AbstractContextManager[sa.Connection]: ...


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored: its current text (empty once deleted)."""

    id: str
    rid: str
    conversation_id: int | None
    ts: datetime
    author_id: str
    author_username: str
    text: str
    type: str | None
    edited_at: datetime | None
    deleted: bool
    tmid: str | None
    has_files: bool
    revision: float

    @property
    def edited(self) -> bool:
        return self.edited_at is not None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file attached to a (not deleted) message, with who posted it and when."""

    msg_id: str
    rid: str
    file_id: str
    name: str
    type: str
    size: int
    description: str | None
    url: str | None
    author_username: str
    ts: datetime


def utc(value: datetime | None) -> datetime | None:
    """Aware UTC; SQLite hands DateTime columns back naive (they were stored as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(message: Message, conversation_id: int | None) -> dict[str, Any]:
    deleted = message.is_deleted
    return {
        "id": message.id,
        "rid": message.rid,
        "conversation_id": conversation_id,
        "ts": message.ts,
        "author_id": message.author.id,
        "author_username": message.author.username,
        "text": "" if deleted else message.text,
        "type": message.type,
        "edited_at": message.edited_at,
        "deleted": deleted,
        "tmid": message.tmid,
        "has_files": bool(message.files),
        "revision": message.version[1],
        "updated_at": message.updated_at,
    }


def _upsert_statement(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported back ends
        raise NotImplementedError(f"message upsert on {dialect}")
    stmt = insert(messages)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[messages.c.id],
        set_={
            "rid": new.rid,
            # An edit event does not know the conversation; keep the one we had.
            "conversation_id": sa.func.coalesce(new.conversation_id, messages.c.conversation_id),
            "ts": new.ts,
            "author_id": new.author_id,
            "author_username": new.author_username,
            "text": new.text,
            "type": new.type,
            "edited_at": new.edited_at,
            "deleted": new.deleted,
            "tmid": new.tmid,
            "has_files": new.has_files,
            "revision": new.revision,
            "updated_at": new.updated_at,
        },
        # Older revisions lose; an equal one is a replay (idempotent), but a replay never
        # brings a deleted message back.
        where=sa.and_(
            new.revision >= messages.c.revision,
            sa.or_(sa.not_(messages.c.deleted), new.deleted),
        ),
    )


def _epoch_seconds(dialect: str) -> Any:
    if dialect == "sqlite":  # DateTime is stored as ISO text in UTC
        return sa.cast((sa.func.julianday(messages.c.ts) - 2440587.5) * 86400.0, sa.Float)
    return sa.cast(sa.extract("epoch", messages.c.ts), sa.Float)


_COLUMNS = (
    messages.c.id,
    messages.c.rid,
    messages.c.conversation_id,
    messages.c.ts,
    messages.c.author_id,
    messages.c.author_username,
    messages.c.text,
    messages.c.type,
    messages.c.edited_at,
    messages.c.deleted,
    messages.c.tmid,
    messages.c.has_files,
    messages.c.revision,
)


def _stored(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        rid=row.rid,
        conversation_id=row.conversation_id,
        ts=utc(row.ts),  # type: ignore[arg-type]
        author_id=row.author_id,
        author_username=row.author_username,
        text=row.text,
        type=row.type,
        edited_at=utc(row.edited_at),
        deleted=bool(row.deleted),
        tmid=row.tmid,
        has_files=bool(row.has_files),
        revision=row.revision,
    )


_EXISTING = sa.select(messages.c.id).where(messages.c.id.in_(sa.bindparam("ids", expanding=True)))


#: rooms whose write counter is kept (issue 20: one entry per room ever written would grow
#: with every new conversation); the least recently written tenth goes at once beyond that
ROOMS_COUNTED = 10_000


class _Counters:
    """Per room, the generation of its last write: every write takes the next number of one
    sequence (`last`). A room without an entry (never written here, or evicted) reads as
    `floor`, the sequence's value at the last eviction: higher than anything an evicted room
    held, and lower than anything written after, so a generation read before a write never
    equals one read after it, evicted or not (the search engine then rebuilds, never trusts,
    a room's buffer)."""

    __slots__ = ("__weakref__", "by_room", "floor", "last", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_room: OrderedDict[str, int] = OrderedDict()  # least recently written first
        self.last = 0
        self.floor = 0

    def bump(self, rids: Iterable[str]) -> None:
        with self.lock:
            for rid in rids:
                self.last += 1
                self.by_room[rid] = self.last
                self.by_room.move_to_end(rid)
            if len(self.by_room) > ROOMS_COUNTED:
                # a tenth at once: the floor (every evicted room's generation) moves seldom
                for _ in range(len(self.by_room) - ROOMS_COUNTED + ROOMS_COUNTED // 10):
                    self.by_room.popitem(last=False)
                self.floor = self.last

    def get(self, rid: str) -> int:
        with self.lock:
            return self.by_room.get(rid, self.floor)


_counters: WeakKeyDictionary[Any, _Counters] = WeakKeyDictionary()
_counters_lock = threading.Lock()
_statement_cache: dict[tuple[str, str], Any] = {}


def _counters_of(store: StoreLike) -> _Counters:
    with _counters_lock:
        counters = _counters.get(store)
        if counters is None:
            counters = _counters[store] = _Counters()
        return counters


def _statements(dialect: str, name: str, make: Any) -> Any:
    # Built once per dialect: a repo is cheap enough to make per command.
    key = (dialect, name)
    if key not in _statement_cache:
        _statement_cache[key] = make(dialect)
    return _statement_cache[key]


class MessageRepo:
    """Conversation messages in the store. Thread-safe (each call uses its own connection);
    cheap to make, so `MessageRepo(ctx.store)` per command is fine."""

    def __init__(self, store: StoreLike) -> None:
        self.store = store
        dialect = store.engine.dialect.name
        self._upsert = _statements(dialect, "upsert", _upsert_statement)
        self._epoch = _statements(dialect, "epoch", _epoch_seconds)
        self._counters = _counters_of(store)

    # -- writes ------------------------------------------------------------------------------

    def upsert(
        self,
        message: Message,
        conversation_id: int | None = None,
        *,
        conn: sa.Connection | None = None,
    ) -> None:
        """Store a message or a newer revision of it (edit, deletion)."""
        self.upsert_many([message], conversation_id=conversation_id, conn=conn)

    def upsert_many(
        self,
        items: Iterable[Message | tuple[Message, int | None]],
        conversation_id: int | None = None,
        *,
        conn: sa.Connection | None = None,
    ) -> int:
        """Store many messages in one transaction; items are messages or (message, conv id).

        Returns how many were given. Revision order is enforced per row, so a batch may mix
        old and new revisions in any order. With `conn` the rows join the caller's transaction,
        and the caller calls `written(rids)` once it committed (before that the search engine
        must not think the room changed: it would cache the old text as current).
        """
        rows: list[dict[str, Any]] = []
        with_files: list[Message] = []
        for item in items:
            message, conv = item if isinstance(item, tuple) else (item, conversation_id)
            rows.append(_row(message, conv))
            if message.files:
                with_files.append(message)
        if not rows:
            return 0
        if conn is not None:
            conn.execute(self._upsert, rows)
            if with_files:
                self._replace_files(conn, with_files)
            return len(rows)
        with self.store.transaction() as own:
            own.execute(self._upsert, rows)
            if with_files:
                self._replace_files(own, with_files)
        self._bump({row["rid"] for row in rows})
        return len(rows)

    def existing(self, ids: Sequence[str], *, conn: sa.Connection | None = None) -> set[str]:
        """Which of these message ids are stored already (any revision)."""
        found: set[str] = set()
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.store.engine.connect())
            unique = sorted(set(ids))
            for start in range(0, len(unique), 500):
                found.update(
                    conn.execute(_EXISTING, {"ids": unique[start : start + 500]}).scalars()
                )
        return found

    def written(self, rids: Iterable[str]) -> None:
        """After the caller's transaction with `upsert_many(conn=...)` committed."""
        self._bump(rids)

    def _replace_files(self, conn: sa.Connection, batch: Sequence[Message]) -> None:
        # Only the revision that won the upsert may set the files.
        current = dict(
            conn.execute(
                sa.select(messages.c.id, messages.c.revision).where(
                    messages.c.id.in_([m.id for m in batch])
                )
            ).all()
        )
        winners = [m for m in batch if current.get(m.id) == m.version[1]]
        if not winners:
            return
        conn.execute(
            message_files.delete().where(message_files.c.msg_id.in_([m.id for m in winners]))
        )
        conn.execute(
            message_files.insert(),
            [
                {
                    "msg_id": m.id,
                    "file_id": f.id,
                    "name": f.name,
                    "type": f.type,
                    "size": f.size,
                    "description": f.description,
                    "url": f.url,
                }
                for m in winners
                for f in {f.id: f for f in m.files}.values()
            ],
        )

    def _bump(self, rids: Iterable[str]) -> None:
        self._counters.bump(rids)

    def generation(self, rid: str) -> int:
        """A counter that changes whenever this process writes to the room's messages (and
        may change without a write: see `_Counters`).

        Kept per store, not per repo, so a repo made per command sees every other's writes.
        """
        return self._counters.get(rid)

    # -- reads -------------------------------------------------------------------------------

    def get(self, msg_id: str) -> StoredMessage | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(*_COLUMNS).where(messages.c.id == msg_id)).first()
        return _stored(row) if row else None

    def for_room(
        self, rid: str, since: datetime | None = None, *, include_deleted: bool = False
    ) -> list[StoredMessage]:
        """The room's messages, oldest first; `since` is exclusive."""
        query = sa.select(*_COLUMNS).where(messages.c.rid == rid)
        if since is not None:
            query = query.where(messages.c.ts > since)
        if not include_deleted:
            query = query.where(sa.not_(messages.c.deleted))
        return self._fetch(query.order_by(messages.c.ts, messages.c.id))

    def for_conversations(
        self, ids: Iterable[int], *, include_deleted: bool = False
    ) -> list[StoredMessage]:
        """Messages of these conversations, oldest first."""
        ids = list(ids)
        if not ids:
            return []
        query = sa.select(*_COLUMNS).where(messages.c.conversation_id.in_(ids))
        if not include_deleted:
            query = query.where(sa.not_(messages.c.deleted))
        return self._fetch(query.order_by(messages.c.ts, messages.c.id))

    def rooms_of_conversations(self, ids: Iterable[int]) -> list[str]:
        """The rooms these conversations' messages live in (for search scopes)."""
        ids = list(ids)
        if not ids:
            return []
        query = sa.select(messages.c.rid).where(messages.c.conversation_id.in_(ids)).distinct()
        with self.store.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def rooms(self) -> list[str]:
        """Every room with stored messages."""
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(messages.c.rid).distinct()).scalars())

    def files(self, rid: str) -> list[StoredFile]:
        """Files attached to the room's live messages, oldest first."""
        query = (
            sa.select(
                message_files,
                messages.c.rid,
                messages.c.author_username,
                messages.c.ts,
            )
            .join(messages, messages.c.id == message_files.c.msg_id)
            .where(messages.c.rid == rid, sa.not_(messages.c.deleted))
            .order_by(messages.c.ts, message_files.c.name)
        )
        with self.store.engine.connect() as conn:
            return [
                StoredFile(
                    msg_id=r.msg_id,
                    rid=r.rid,
                    file_id=r.file_id,
                    name=r.name,
                    type=r.type,
                    size=r.size,
                    description=r.description,
                    url=r.url,
                    author_username=r.author_username,
                    ts=utc(r.ts),  # type: ignore[arg-type]
                )
                for r in conn.execute(query)
            ]

    def last_by_author(self, rid: str, username: str) -> StoredMessage | None:
        """The author's newest live, ordinary (non-system) message in the room."""
        query = (
            sa.select(*_COLUMNS)
            .where(
                messages.c.rid == rid,
                messages.c.author_username == username,
                sa.not_(messages.c.deleted),
                messages.c.type.is_(None),
            )
            .order_by(messages.c.ts.desc(), messages.c.id.desc())
            .limit(1)
        )
        found = self._fetch(query)
        return found[0] if found else None

    def last_line(self, conversation_id: int) -> tuple[str, str] | None:
        """(author, text) of the conversation's newest live, ordinary message: one indexed row,
        not the whole conversation."""
        query = (
            sa.select(messages.c.author_username, messages.c.text)
            .where(
                messages.c.conversation_id == conversation_id,
                sa.not_(messages.c.deleted),
                messages.c.type.is_(None),
                messages.c.text != "",
            )
            .order_by(messages.c.ts.desc(), messages.c.id.desc())
            .limit(1)
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        return (row.author_username, row.text) if row else None

    def by_ids(self, ids: Sequence[str]) -> dict[str, StoredMessage]:
        """Messages by id (chunked, for the search engine's hits)."""
        found: dict[str, StoredMessage] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for message in self._fetch(sa.select(*_COLUMNS).where(messages.c.id.in_(chunk))):
                found[message.id] = message
        return found

    def texts(self, rids: Sequence[str]) -> Iterator[tuple[str, str, str, str, float]]:
        """(rid, id, author_username, text, ts as epoch seconds) of live, ordinary (non-system)
        messages, per room in time order: the search engine's bulk read, with raw columns
        computed by the database so no Python datetime is built per row.
        """
        query = (
            sa.select(
                messages.c.rid,
                messages.c.id,
                messages.c.author_username,
                messages.c.text,
                self._epoch,
            )
            .where(messages.c.rid.in_(sa.bindparam("rids", expanding=True)))
            .where(sa.not_(messages.c.deleted), messages.c.type.is_(None))
            .order_by(messages.c.rid, messages.c.ts, messages.c.id)
        )
        with self.store.engine.connect() as conn:
            for start in range(0, len(rids), 500):
                chunk = list(rids[start : start + 500])
                yield from conn.execute(query, {"rids": chunk})  # type: ignore[misc]

    def _fetch(self, query: Any) -> list[StoredMessage]:
        with self.store.engine.connect() as conn:
            return [_stored(row) for row in conn.execute(query)]
