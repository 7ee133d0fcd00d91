"""Processed marks written a moment later (`record_processed(soon=True)`): processed at once for
this store, in the database for everyone within `DELAY`, written by `close()`, and written at once
where the store cannot wait (a fence to run, a database other than a SQLite file)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.store import Store
from bot.store.pending_marks import DELAY, PendingMarks
from bot.store.schema_runtime import processed_messages
from tests.chat import wait_until

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'marks.db'}"


@pytest.fixture
def open_store(url: str) -> Iterator[Callable[..., Store]]:
    """`open_store(**options)`: a Store on the test's file, closed at the end (again: no-op)."""
    opened: list[Store] = []

    def open_one(**options: Any) -> Store:
        opened.append(Store(url, **options))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def test_a_mark_counts_at_once_and_reaches_the_database_soon(open_store: Any) -> None:
    mine, other = open_store(), open_store()
    writes = mine.write_transactions
    mine.record_processed([("m1", "0", "r1")], [("r1", T0, "m1")], soon=True)
    assert mine.is_processed("m1", "0") and mine.is_processed("m1")
    assert not mine.is_processed("m1", "e1")
    assert mine.processed_among([("m1", "0"), ("m2", "0")]) == {("m1", "0")}
    # another process (here another store) sees it once written, one transaction later
    wait_until(lambda: other.is_processed("m1", "0"), 5 * DELAY + 5, "the mark written")
    assert mine.write_transactions == writes + 1
    assert not mine.mark_processed("m1", "0", "r1")  # marked already
    assert other.cursor("r1").last_msg_id == "m1"


def test_marks_of_a_burst_share_one_transaction(open_store: Any) -> None:
    store = open_store()
    store.flush_processed()
    writes = store.write_transactions
    for i in range(20):
        cursor = ("r", T0 + timedelta(seconds=i), f"m{i}")
        store.record_processed([(f"m{i}", "0", "r")], [cursor], soon=True)
    store.flush_processed()
    assert store.write_transactions == writes + 1
    assert store.cursor("r").last_msg_id == "m19"  # the newest, as one by one


def test_a_mark_keeps_the_time_it_was_handled_not_written(open_store: Any) -> None:
    # pruning and "forget what was handled since" go by that time
    store = open_store()
    store.record_processed([("m1", "0", "r1")], [("r1", T0, "m1")], soon=True)
    handled = datetime.now(UTC)
    time.sleep(0.01)
    store.flush_processed()
    with store.engine.connect() as conn:
        at = conn.execute(sa.select(processed_messages.c.processed_at)).scalar_one()
    assert at <= handled


def test_close_writes_what_waits(open_store: Any) -> None:
    store = open_store()
    store.record_processed([("m1", "0", "r1")], [("r1", T0, "m1")], soon=True)
    store.close()
    again = open_store()
    assert again.is_processed("m1", "0")
    assert again.cursor("r1").last_ts == T0


def test_reading_the_cursors_writes_what_waits_first(open_store: Any) -> None:
    store = open_store()
    store.record_processed([("m1", "0", "r1")], [("r1", T0, "m1")], soon=True)
    assert [c.rid for c in store.cursors()] == ["r1"]
    assert store.cursor("r1").last_msg_id == "m1"


def test_a_fenced_store_writes_at_once(open_store: Any) -> None:
    fences: list[object] = []
    store, other = open_store(fence=fences.append), open_store()
    store.record_processed([("m1", "0", "r1")], [("r1", T0, "m1")], soon=True)
    assert other.is_processed("m1", "0")  # no wait: the fence ran with the write
    assert fences


def test_a_failed_write_is_logged_and_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    def refuse(marks: object, cursors: object) -> None:
        raise OSError("disk full")

    pending = PendingMarks(refuse, delay=60)
    assert pending.add([("m1", "0", "r1")], [("r1", T0, "m1")])
    assert pending.has("m1", "0") and pending.pending == 2
    with caplog.at_level(logging.WARNING, logger="omnicat.store"):
        pending.flush()
    assert "cannot mark 1 message(s) processed" in caplog.text
    assert not pending.has("m1") and pending.pending == 0
    pending.close()
    assert not pending.add([("m2", "0", "r1")], [])  # closed: the caller writes it itself


def test_marks_added_while_a_write_runs_wait_for_the_next() -> None:
    written: list[list[tuple[str, ...]]] = []
    pending: PendingMarks

    def write(marks: list[tuple[str, str, str, datetime]], cursors: object) -> None:
        written.append([m[:3] for m in marks])
        if len(written) == 1:  # a mark comes in while the first write runs
            pending.add([("m2", "0", "r")], [])
            assert pending.has("m1", "0") and pending.has("m2", "0")

    pending = PendingMarks(write, delay=60)
    pending.add([("m1", "0", "r")], [])
    pending.flush()
    assert pending.has("m2", "0") and not pending.has("m1")
    pending.flush()
    assert written == [[("m1", "0", "r")], [("m2", "0", "r")]]
    pending.close()


def test_the_thread_writes_after_the_delay_without_more_marks() -> None:
    written: list[object] = []
    pending = PendingMarks(
        lambda marks, cursors: written.append([m[:3] for m in marks]), delay=0.05
    )
    pending.add([("m1", "0", "r")], [])
    wait_until(lambda: written, 10, "the lone mark written")  # nobody flushed: the thread did
    assert written == [[("m1", "0", "r")]] and pending.writes == 1
    pending.close()


def test_a_mark_waits_for_what_its_event_sent_unawaited(open_store: Any) -> None:
    """`gates`: the command's answer went out and nobody waited (`bot.chat.gates`); its mark
    reaches the database only once the answer settled, so a crash before replays it."""
    import threading

    store, other = open_store(), open_store()
    release = threading.Event()
    settled: list[str] = []

    class Answer:
        def settle(self) -> None:
            assert release.wait(10)
            settled.append("answer")

    store.record_processed([("m1", "0", "r1")], [("r1", T0, "m1")], soon=True, gates=[Answer()])
    assert store.is_processed("m1", "0")  # for this process, at once
    time.sleep(2 * DELAY)
    assert not other.is_processed("m1", "0")  # not written while the answer is unsettled
    release.set()
    wait_until(lambda: other.is_processed("m1", "0"), 5 * DELAY + 5, "the mark written")
    assert settled == ["answer"]
