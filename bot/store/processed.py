"""What the store keeps of the messages it processed: the processed-message marks (by id and
revision, so a replay or a restart handles each message once) and the room cursors catch-up starts
from. These are the per-message statements, so on a SQLite file they run on the driver
(`bot.store.hotpath`) when no fence forbids it."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.chat.gates import Gate, settle_all
from bot.store.engine import BUSY_TIMEOUT_MS, insert_ignore
from bot.store.hotpath import SQLiteHotPath, sqlite_file
from bot.store.mark_filter import MarkFilter
from bot.store.pending_marks import PendingMarks
from bot.store.schema_runtime import processed_messages, room_cursors

#: a stored cursor further than this past the wall clock is not trusted (`_CURSOR_FORWARD`)
FUTURE_CURSOR = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Cursor:
    """The newest message of a room the bot has processed: catch-up starts here."""

    rid: str
    last_ts: datetime
    last_msg_id: str | None
    updated_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def _revision(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):  # Message.version is (id, stamp): the stamp is the revision
        value = value[-1]
    return value if isinstance(value, str) else repr(value)


# The hot path's statements, built once (building them per call cost more than running them).
_SEEN = (
    sa.select(processed_messages.c.msg_id)
    .where(
        processed_messages.c.msg_id == sa.bindparam("msg_id"),
        processed_messages.c.revision == sa.bindparam("rev"),
    )
    .limit(1)
)
_SEEN_ANY = (
    sa.select(processed_messages.c.msg_id)
    .where(processed_messages.c.msg_id == sa.bindparam("msg_id"))
    .limit(1)
)
_SEEN_IDS = sa.select(processed_messages.c.msg_id, processed_messages.c.revision).where(
    processed_messages.c.msg_id.in_(sa.bindparam("ids", expanding=True))
)
_MARK = processed_messages.insert().values(
    msg_id=sa.bindparam("m_id"),
    revision=sa.bindparam("m_rev"),
    rid=sa.bindparam("m_rid"),
    processed_at=sa.bindparam("at"),
)
_MARKED_IDS = sa.select(processed_messages.c.msg_id)
_COUNT_MARKED = sa.select(sa.func.count()).select_from(processed_messages)
_CURSORS_TS = sa.select(room_cursors.c.rid, room_cursors.c.last_ts)
_OLDEST_MARKS = sa.select(
    processed_messages.c.rid, sa.func.min(processed_messages.c.processed_at)
).group_by(processed_messages.c.rid)
_PRUNE_ROOM = processed_messages.delete().where(
    processed_messages.c.rid == sa.bindparam("p_rid"),
    processed_messages.c.processed_at < sa.bindparam("before"),
)
_CURSOR_TS = sa.select(room_cursors.c.last_ts).where(room_cursors.c.rid == sa.bindparam("c_rid"))
# Never backwards: only a newer ts moves it. Except from a cursor in the future, which is
# garbage (a message stamped ahead of time, stored before App clamped cursors): any real time
# replaces it, or the room's catch-up would ask for history after that future forever.
_CURSOR_FORWARD = (
    room_cursors.update()
    .where(
        room_cursors.c.rid == sa.bindparam("c_rid"),
        sa.or_(
            room_cursors.c.last_ts < sa.bindparam("ts"),
            room_cursors.c.last_ts > sa.bindparam("future"),
        ),
    )
    .values(
        last_ts=sa.bindparam("ts"),
        last_msg_id=sa.bindparam("msg_id"),
        updated_at=sa.bindparam("at"),
    )
)


def ingest_hot_path(engine: sa.Engine, write_lock: threading.RLock) -> SQLiteHotPath | None:
    """The per-message statements on the driver (`bot.store.hotpath`), for a SQLite file."""
    path = sqlite_file(engine)
    if path is None:
        return None
    from sqlalchemy.dialects.sqlite import insert

    new_cursor = (
        insert(room_cursors)
        .values(
            rid=sa.bindparam("rid"),
            last_ts=sa.bindparam("last_ts"),
            last_msg_id=sa.bindparam("last_msg_id"),
            updated_at=sa.bindparam("updated_at"),
        )
        .on_conflict_do_nothing(index_elements=["rid"])
    )
    statements = {
        "seen": _SEEN,
        "seen_any": _SEEN_ANY,
        "mark": insert_new_marks("sqlite"),
        "cursor_forward": _CURSOR_FORWARD,
        "cursor_ts": _CURSOR_TS,
        "cursor_insert": new_cursor,
    }
    datetimes = frozenset({"at", "ts", "future", "last_ts", "updated_at"})
    return SQLiteHotPath(path, engine.dialect, write_lock, statements, datetimes, BUSY_TIMEOUT_MS)


def insert_new_marks(dialect: str) -> Any:
    """`_MARK` that skips revisions already marked, where the dialect can say so."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        return None
    return (
        insert(processed_messages)
        .values(
            msg_id=sa.bindparam("m_id"),
            revision=sa.bindparam("m_rev"),
            rid=sa.bindparam("m_rid"),
            processed_at=sa.bindparam("at"),
        )
        .on_conflict_do_nothing(index_elements=["msg_id", "revision"])
    )


class ProcessedMarks:
    """The processed messages and room cursors of `Store` (`bot.store.store`), which this is
    a base of."""

    if TYPE_CHECKING:  # what `Store` holds and does
        _mark_new: Any
        fence: Any
        #: marks written a moment later (`record_processed(soon=True)`); None: never
        _pending: PendingMarks | None
        _write_lock: threading.RLock
        _marks_filter: MarkFilter
        _marks_filter_to_start: bool

        def transaction(self, *, fenced: bool = True) -> AbstractContextManager[sa.Connection]: ...

        def reading(self) -> AbstractContextManager[sa.Connection]: ...

        def _hot_path(self, *, writing: bool) -> SQLiteHotPath | None: ...

    # --- processed messages ----------------------------------------------------------------

    def _new_marks_filter(self) -> MarkFilter:
        return MarkFilter(lambda: self.marked_ids(), self._count_marked, self._settle_marks)

    @property
    def marks_filter(self) -> MarkFilter:
        """The processed-marks filter (`bot.store.mark_filter`), used or not (see
        `_marks_filter_in_use`)."""
        return self._marks_filter

    def _marks_filter_in_use(self) -> MarkFilter | None:
        """The filter (`bot.store.mark_filter`) where it may answer: a store opened as the
        marks' only writer (`Store(sole_writer=True)`), not fenced (no HA peer), once its
        first mark started the filter. A store that only reads them never uses it."""
        marks_filter = self._marks_filter
        if self.fence is not None or marks_filter.closed or not marks_filter.started:
            return None
        return marks_filter

    def _note_marks(self, msg_ids: Iterable[str]) -> None:
        """Ids about to be marked, into the filter (started by the first)."""
        if self._marks_filter_to_start and self.fence is None:
            self._marks_filter_to_start = False
            self._marks_filter.start()
        if self._marks_filter.started:  # else nothing would keep them: no filter, no build
            self._marks_filter.add(msg_ids)

    def marked_ids(self) -> Iterator[str]:
        """Every message id with a processed mark in the table (what the filter is built of)."""
        with self.reading() as conn:
            rows = conn.execution_options(yield_per=5000).execute(_MARKED_IDS)
            for row in rows:
                yield row[0]

    def _count_marked(self) -> int:
        with self.reading() as conn:
            return int(conn.execute(_COUNT_MARKED).scalar() or 0)

    def _settle_marks(self) -> None:
        """Every mark made so far in the table: the waiting ones written, and the write
        transactions open now (which may hold marks) ended."""
        self.flush_processed()
        with self._write_lock:
            pass

    @contextmanager
    def _writing(self, conn: sa.Connection | None) -> Iterator[sa.Connection]:
        """The caller's transaction when given one (its work commits with theirs), else ours."""
        if conn is not None:
            yield conn
        else:
            with self.transaction() as own:
                yield own

    def mark_processed(
        self, msg_id: str, revision: Any, rid: str, *, conn: sa.Connection | None = None
    ) -> bool:
        """Record a message revision as processed; False when it already was."""
        rev = _revision(revision)
        if self._pending is not None and self._pending.has(msg_id, rev):
            return False
        self._note_marks((msg_id,))
        try:
            with self._writing(conn) as tx:
                if tx.execute(_SEEN, {"msg_id": msg_id, "rev": rev}).first():
                    return False
                row = {"m_id": msg_id, "m_rev": rev, "m_rid": rid, "at": _now()}
                if self._mark_new is not None:  # a concurrent mark is a no-op, not an error
                    return bool(tx.execute(self._mark_new, row).rowcount)
                tx.execute(_MARK, [row])
        except sa.exc.IntegrityError:  # a concurrent writer on a non-SQLite backend won
            return False
        return True

    def is_processed(self, msg_id: str, revision: Any = None) -> bool:
        """Whether this revision (or, with revision None, any revision) was processed."""
        pending = self._pending
        if pending is not None and pending.has(
            msg_id, None if revision is None else _revision(revision)
        ):
            return True
        marks_filter = self._marks_filter_in_use()
        if marks_filter is not None and not marks_filter.may_have(msg_id):
            return False
        hot = self._hot_path(writing=False)
        if hot is not None:
            if revision is None:
                return hot.execute("seen_any", {"msg_id": msg_id}).fetchone() is not None
            values = {"msg_id": msg_id, "rev": _revision(revision)}
            return hot.execute("seen", values).fetchone() is not None
        with self.reading() as conn:
            if revision is None:
                return conn.execute(_SEEN_ANY, {"msg_id": msg_id}).first() is not None
            return (
                conn.execute(_SEEN, {"msg_id": msg_id, "rev": _revision(revision)}).first()
                is not None
            )

    def processed_among(self, keys: Iterable[tuple[str, Any]]) -> set[tuple[str, str]]:
        """Which of these (message id, revision) were processed, as (id, revision string):
        one query for a batch instead of one per message."""
        wanted = {(msg_id, _revision(rev)) for msg_id, rev in keys}
        if not wanted:
            return set()
        waiting = self._pending.among(wanted) if self._pending is not None else set()
        ids = [msg_id for msg_id, _ in wanted - waiting]
        marks_filter = self._marks_filter_in_use()
        if marks_filter is not None:
            ids = [msg_id for msg_id in ids if marks_filter.may_have(msg_id)]
        if not ids:
            return waiting
        with self.reading() as conn:
            found = self._processed_in(conn, ids)
        return (found & wanted) | waiting

    def record_processed(
        self,
        marks: Sequence[tuple[Any, ...]],
        cursors: Iterable[tuple[str, datetime, str | None]] = (),
        *,
        conn: sa.Connection | None = None,
        soon: bool = False,
        gates: Sequence[Gate] = (),
    ) -> None:
        """Mark (message id, revision, rid[, processed at]) processed and move rooms' cursors
        (rid, ts, msg id) forward, in one transaction (or the caller's): what `mark_processed`
        + `advance_cursor` do per message, for a batch. Already-marked revisions are left as
        they are.

        `soon`: written a moment later with others (`bot.store.pending_marks`), where the
        store can (a SQLite file, no fence to run); they count as processed meanwhile.
        `gates`: what the handling sent and did not wait for (`bot.chat.gates`), settled
        before the marks are written."""
        self._note_marks(m[0] for m in marks)
        pending = self._pending if soon and conn is None and self.fence is None else None
        if pending is not None:
            keyed = [(m[0], _revision(m[1]), m[2]) for m in marks]
            if pending.add(keyed, cursors, gates):
                return
        settle_all(list(gates))
        self._record_now(marks, cursors, conn)

    def _record_now(
        self,
        marks: Sequence[tuple[Any, ...]],
        cursors: Iterable[tuple[str, datetime, str | None]] = (),
        conn: sa.Connection | None = None,
    ) -> None:
        """`record_processed` written now (also the waiting marks' writer)."""
        now = _now()
        # a mark may bring the time it was made (one that waited: `pending_marks`)
        keys = {(m[0], _revision(m[1])): (m[2], m[3] if len(m) > 3 else now) for m in marks}
        hot = self._hot_path(writing=True) if conn is None else None
        if hot is not None:
            self._record_hot(hot, keys, cursors, now)
            return
        with self._writing(conn) as tx:
            if keys:
                if self._mark_new is not None:  # one statement: the key skips what is marked
                    seen: set[tuple[str, str]] = set()
                else:
                    seen = self._processed_in(tx, [m for m, _ in keys])
                rows = [
                    {"m_id": m, "m_rev": r, "m_rid": rid, "at": at}
                    for (m, r), (rid, at) in keys.items()
                    if (m, r) not in seen
                ]
                if rows:
                    tx.execute(self._mark_new if self._mark_new is not None else _MARK, rows)
            for cursor in cursors:
                self.advance_cursor(*cursor, conn=tx)

    def _record_hot(
        self,
        hot: SQLiteHotPath,
        keys: dict[tuple[str, str], tuple[str, datetime]],
        cursors: Iterable[tuple[str, datetime, str | None]],
        now: datetime,
    ) -> None:
        """`record_processed` on the driver: the same statements, one transaction."""
        rows = [
            {"m_id": m, "m_rev": r, "m_rid": rid, "at": at} for (m, r), (rid, at) in keys.items()
        ]
        with hot.writing():
            self.write_transactions += 1
            if len(rows) == 1:
                hot.execute("mark", rows[0])
            elif rows:
                hot.execute_many("mark", rows)
            for rid, ts, msg_id in cursors:
                values = {"c_rid": rid, "ts": ts, "msg_id": msg_id, "at": now}
                values["future"] = now + FUTURE_CURSOR
                if hot.execute("cursor_forward", values).rowcount:
                    continue
                if hot.execute("cursor_ts", {"c_rid": rid}).fetchone() is not None:
                    continue  # not newer
                row = {"rid": rid, "last_ts": ts, "last_msg_id": msg_id, "updated_at": now}
                hot.execute("cursor_insert", row)

    @staticmethod
    def _processed_in(conn: sa.Connection, ids: Sequence[str]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        unique = sorted(set(ids))
        for start in range(0, len(unique), 500):
            rows = conn.execute(_SEEN_IDS, {"ids": unique[start : start + 500]})
            found.update((row[0], row[1]) for row in rows)
        return found

    def prune_processed(self, margin: timedelta) -> int:
        """Forget each room's marks processed more than `margin` before the room's cursor.

        The marks de-duplicate what catch-up replays (history since the cursor) and messages
        re-emitted (reactions, thread replies); a re-emitted message from well before the cursor
        is ignored as stale anyway (`App._is_stale`), so marks far behind the cursor are dead
        weight. Per room, not behind the oldest cursor of all: most rooms go quiet for good
        (closed conversations), and one quiet room would hold every other room's marks forever.
        A room without a cursor keeps its marks (every processed message moves its room's cursor,
        so there are none in practice). A cursor in the future counts as now.
        """
        self.flush_processed()
        now = _now()
        with self.reading() as conn:
            cursors = dict(conn.execute(_CURSORS_TS).all())
            oldest = dict(conn.execute(_OLDEST_MARKS).all())
        # only rooms that have something to forget: each delete walks the processed_at index
        bounds = [
            {"p_rid": rid, "before": min(cursors[rid], now) - margin}
            for rid, first in oldest.items()
            if rid in cursors and first < min(cursors[rid], now) - margin
        ]
        if not bounds:
            return 0
        with self.transaction() as conn:
            result = conn.execute(_PRUNE_ROOM, bounds)
        self._marks_filter.rebuild_if_full()  # it cannot forget the ids pruned
        return max(0, result.rowcount or 0)

    # --- room cursors ----------------------------------------------------------------------

    def flush_processed(self) -> None:
        """Write the marks and cursors that wait (`record_processed(soon=True)`) now."""
        if self._pending is not None:
            self._pending.flush()

    def cursor(self, rid: str) -> Cursor | None:
        self.flush_processed()
        with self.reading() as conn:
            row = conn.execute(sa.select(room_cursors).where(room_cursors.c.rid == rid)).first()
        return Cursor(**row._mapping) if row else None

    def cursors(self) -> list[Cursor]:
        self.flush_processed()
        with self.reading() as conn:
            rows = conn.execute(sa.select(room_cursors).order_by(room_cursors.c.rid)).all()
        return [Cursor(**row._mapping) for row in rows]

    def advance_cursor(
        self,
        rid: str,
        ts: datetime,
        msg_id: str | None = None,
        *,
        conn: sa.Connection | None = None,
    ) -> bool:
        """Move a room's cursor forward to `ts`; never backwards. True when it moved."""
        now = _now()
        values = {"c_rid": rid, "ts": ts, "msg_id": msg_id, "at": now}
        values["future"] = now + FUTURE_CURSOR
        with self._writing(conn) as tx:
            if tx.execute(_CURSOR_FORWARD, values).rowcount:  # the usual case: one statement
                return True
            if tx.execute(_CURSOR_TS, {"c_rid": rid}).first() is not None:
                return False  # not newer
            row = {"rid": rid, "last_ts": ts, "last_msg_id": msg_id, "updated_at": now}
            return insert_ignore(tx, room_cursors, row, ["rid"])
