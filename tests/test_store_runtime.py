"""The store core: migrations, SQLite settings, transactions and the runtime's queries.

Marked `both_stores`: every test that takes `store` or `store_url` runs on SQLite and on
PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.store import Store
from bot.store import migrations as migrations_pkg
from bot.store.schema_runtime import kv

pytestmark = pytest.mark.both_stores


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def test_migrations_applied_and_recorded(store_url):
    url = store_url
    store = Store(url)
    with store.reading() as conn:
        rows = conn.execute(sa.text("SELECT version, name FROM schema_migrations")).all()
    assert (1, "m0001_runtime") in [tuple(r) for r in rows]
    names = set(sa.inspect(store.engine).get_table_names())
    assert {"processed_messages", "room_cursors", "users_cache", "events", "kv"} <= names
    assert store.upgrade() == []  # idempotent
    store.close()
    again = Store(url)  # reopening applies nothing twice
    assert again.upgrade() == []
    again.close()


def test_discover_orders_by_number():
    found = migrations_pkg.discover()
    versions = [m.version for m in found]
    assert versions == sorted(versions) and versions[0] == 1


def test_failed_migration_rolls_back(store_url, monkeypatch):
    url = store_url
    store = Store(url, migrate=False)

    def broken(conn):
        conn.execute(sa.text("CREATE TABLE half_done (x INTEGER)"))
        raise RuntimeError("boom")

    real = migrations_pkg.discover()
    monkeypatch.setattr(
        migrations_pkg,
        "discover",
        lambda: [*real, migrations_pkg.Migration(9999, "m9999_broken", broken)],
    )
    with pytest.raises(RuntimeError):
        store.upgrade()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert "half_done" not in tables  # DDL rolled back with the failed migration
    assert "events" in tables  # earlier migrations stay applied
    assert 9999 not in migrations_pkg.applied(store.engine)
    store.close()


def test_sqlite_pragmas(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_mark_processed_dedupes_by_id_and_revision(store):
    assert store.mark_processed("m1", 1000.5, "r1") is True
    assert store.mark_processed("m1", 1000.5, "r1") is False
    assert store.mark_processed("m1", ("m1", 1000.5), "r1") is False  # Message.version form
    assert store.mark_processed("m1", 2000.0, "r1") is True  # an edit is a new revision
    assert store.is_processed("m1")
    assert store.is_processed("m1", 2000.0)
    assert not store.is_processed("m1", 3000.0)
    assert not store.is_processed("m2")


def test_mark_processed_is_atomic_across_threads(store):
    results: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        ok = store.mark_processed("same", "r", "room")
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]


def test_prune_forgets_only_marks_far_behind_their_rooms_cursor(store):
    from bot.store.schema_runtime import processed_messages

    now = datetime.now(UTC)
    day = timedelta(days=1)

    def mark(msg_id: str, rid: str, at: datetime) -> None:
        store.mark_processed(msg_id, "0", rid)
        with store.transaction() as conn:
            conn.execute(
                processed_messages.update()
                .where(processed_messages.c.msg_id == msg_id)
                .values(processed_at=at)
            )

    store.advance_cursor("busy", now)
    mark("busy-old", "busy", now - 2 * day)
    mark("busy-recent", "busy", now - day / 2)
    # a room quiet for a week keeps the marks near its cursor, and does not hold back "busy"
    store.advance_cursor("quiet", now - 7 * day)
    mark("quiet-last", "quiet", now - 7 * day)
    mark("quiet-older", "quiet", now - 9 * day)
    mark("no-cursor", "gone", now - 30 * day)

    assert store.prune_processed(day) == 2
    assert not store.is_processed("busy-old") and not store.is_processed("quiet-older")
    for kept in ("busy-recent", "quiet-last", "no-cursor"):
        assert store.is_processed(kept, "0")
    assert store.prune_processed(day) == 0


def test_prune_treats_a_cursor_in_the_future_as_now(store):
    now = datetime.now(UTC)
    store.advance_cursor("r", now + timedelta(days=365))
    store.mark_processed("m", "0", "r")  # processed just now
    assert store.prune_processed(timedelta(hours=1)) == 0
    assert store.is_processed("m")


def test_cursor_never_moves_backwards(store):
    t0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
    assert store.cursor("r1") is None
    assert store.advance_cursor("r1", t0, "a")
    assert not store.advance_cursor("r1", t0 - timedelta(seconds=1), "older")
    assert not store.advance_cursor("r1", t0, "same-ts")
    assert store.advance_cursor("r1", t0 + timedelta(milliseconds=1), "b")
    cur = store.cursor("r1")
    assert cur.last_ts == t0 + timedelta(milliseconds=1) and cur.last_msg_id == "b"
    assert cur.last_ts.tzinfo is not None
    store.advance_cursor("r0", t0)
    assert [c.rid for c in store.cursors()] == ["r0", "r1"]


def test_naive_datetimes_are_refused(store):
    with pytest.raises(sa.exc.StatementError):
        store.advance_cursor("r", datetime(2025, 1, 1))


def test_cursor_survives_reopen(store_url):
    url = store_url
    t0 = datetime(2025, 3, 14, tzinfo=UTC)
    s = Store(url)
    s.advance_cursor("r1", t0, "m")
    s.close()
    s = Store(url)
    assert s.cursor("r1").last_ts == t0
    s.close()


def test_events_are_appended_in_order(store):
    store.append_event(
        "queued", actor="bot", conversation_id=42, to_state="queued", data={"dept": "sales"}
    )
    store.append_event(
        "taken",
        actor="alice",
        conversation_id="42",
        from_state="queued",
        to_state="serving",
        comment="mine",
    )
    store.append_event("other", conversation_id=7)
    evs = store.events(42)
    assert [e.kind for e in evs] == ["queued", "taken"]
    assert evs[0].data == {"dept": "sales"} and evs[1].data == {}
    assert evs[1].comment == "mine" and evs[1].at.tzinfo is not None
    assert len(store.events()) == 3


def test_event_inside_callers_transaction_rolls_back_with_it(store):
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.append_event("taken", conversation_id=1, conn=conn)
        raise RuntimeError("compare-and-set failed")
    assert store.events(1) == []


def test_kv(store):
    assert store.kv_get("x") is None
    assert store.kv_get("x", "d") == "d"
    store.kv_set("x", "1")
    store.kv_set("x", "2")
    assert store.kv_get("x") == "2"


def test_transaction_is_immediate_so_read_modify_write_is_atomic(store):
    """Many threads increment one counter via read-then-write: no update is lost."""
    store.kv_set("n", "0")

    def bump():
        for _ in range(20):
            with store.transaction() as conn:
                n = int(conn.execute(sa.select(kv.c.value).where(kv.c.key == "n")).scalar())
                conn.execute(kv.update().where(kv.c.key == "n").values(value=str(n + 1)))

    threads = [threading.Thread(target=bump) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert store.kv_get("n") == "100"


def test_two_stores_on_one_file(store_url):
    """Two processes' worth of engines: writes serialize, neither fails with 'locked'."""
    url = store_url
    a, b = Store(url), Store(url)
    errors: list[BaseException] = []

    def write(s, prefix):
        try:
            for i in range(30):
                s.mark_processed(f"{prefix}{i}", "", "r")
        except BaseException as exc:  # pragma: no cover - the failure we guard against
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, p)) for s, p in ((a, "a"), (b, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert a.is_processed("b29") and b.is_processed("a29")
    a.close()
    b.close()


def test_in_memory_store_is_shared_across_connections():
    s = Store("sqlite://")
    s.kv_set("a", "1")
    result: list[str | None] = []
    t = threading.Thread(target=lambda: result.append(s.kv_get("a")))
    t.start()
    t.join(timeout=30)
    assert result == ["1"]
    s.close()


def test_marks_and_cursors_on_the_driver_are_stored_as_sqlalchemy_stores_them(tmp_path):
    """On a SQLite file `record_processed` and `is_processed` run on the driver
    (`bot.store.hotpath`); the rows must read back exactly as the SQLAlchemy path writes them."""
    store = Store(f"sqlite:///{tmp_path / 'hot.db'}")
    ts = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    store.record_processed([("a", "0", "r1"), ("a", "e1.000", "r1")], [("r1", ts, "a")])
    with store.transaction() as conn:  # the caller's transaction: SQLAlchemy
        store.record_processed([("b", "0", "r2")], [("r2", ts, "b")], conn=conn)
    with store.reading() as conn:
        cursors = conn.execute(sa.text("SELECT rid, last_ts, last_msg_id FROM room_cursors")).all()
        marks = conn.execute(
            sa.text("SELECT msg_id, revision, processed_at FROM processed_messages")
        )
        marks = sorted(tuple(m) for m in marks)
    assert sorted((c[0], c[2]) for c in cursors) == [("r1", "a"), ("r2", "b")]
    assert cursors[0][1] == cursors[1][1]  # the same text for the same time
    assert [m[:2] for m in marks] == [("a", "0"), ("a", "e1.000"), ("b", "0")]
    assert {len(m[2]) for m in marks} == {len(str(cursors[0][1]))}
    assert store.cursor("r1").last_ts == ts == store.cursor("r2").last_ts
    assert store.is_processed("a", "0") and store.is_processed("b") and store.is_processed("a")
    assert not store.is_processed("a", "e2.000") and not store.is_processed("c")
    # never backwards, and a first cursor for a new room
    store.record_processed([], [("r1", ts - timedelta(seconds=1), "old"), ("r3", ts, "c")])
    assert store.cursor("r1").last_msg_id == "a" and store.cursor("r3").last_ts == ts
    store.close()


def test_a_fenced_store_writes_marks_through_the_fence(tmp_path):
    """The HA lease's fence runs first in every write: marks never bypass it."""
    store = Store(f"sqlite:///{tmp_path / 'fenced.db'}")
    fenced: list[object] = []
    store.fence = fenced.append
    store.record_processed([("a", "0", "r1")], [("r1", datetime.now(UTC), "a")])
    assert len(fenced) == 1 and store.is_processed("a", "0")

    def refuse(conn):
        raise RuntimeError("lease lost")

    store.fence = refuse
    with pytest.raises(RuntimeError):
        store.record_processed([("b", "0", "r1")], [])
    assert not store.is_processed("b", "0")
    store.close()
