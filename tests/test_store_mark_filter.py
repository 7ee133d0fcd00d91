"""The processed-marks filter (`bot.store.mark_filter`): a message the store never marked is
answered from memory, a marked one never is (whatever was marked before the store opened, while
its filter was being built, or waits to be written), a peer under the HA fence is always read,
and pruning builds it anew when it is full."""

from __future__ import annotations

import random
import string
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.store import Store, mark_filter
from bot.store.mark_filter import BloomBits
from tests.chat import wait_until
from tests.test_store_pending_marks import open_store, url  # noqa: F401 (fixtures)

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _ids(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choices(string.ascii_letters + string.digits, k=17)) for _ in range(n)]


@pytest.fixture
def open_writer(open_store: Callable[..., Store]) -> Callable[..., Store]:  # noqa: F811
    """`open_store`, opened as the bot without HA opens it: the marks' only writer."""
    return lambda **options: open_store(**{"sole_writer": True, **options})


def _built(store: Store, builds: int = 1) -> None:
    store.record_processed([("first", "0", "r0")])  # the store's first mark starts the build
    wait_until(lambda: store.marks_filter.builds >= builds, 10, "the filter built")


def _reads(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The hot path's statements from now on, by name."""
    seen: list[str] = []
    hot = store.hot_path
    assert hot is not None
    execute = hot.execute

    def counting(key: str, values: dict[str, Any]) -> Any:
        seen.append(key)
        return execute(key, values)

    monkeypatch.setattr(hot, "execute", counting)
    return seen


def test_bloom_bits_never_forget_and_rarely_guess() -> None:
    bloom = BloomBits(10_000)
    added = _ids(10_000, 1)
    for msg_id in added:
        bloom.add(msg_id)
    assert all(msg_id in bloom for msg_id in added)
    others = _ids(20_000, 2)
    guessed = sum(msg_id in bloom for msg_id in others)
    assert guessed < 20_000 * 0.01  # at a tenth of its capacity: far below 1 %


def test_a_new_message_is_answered_without_a_read_and_a_marked_one_is_read(
    open_writer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = open_writer()  # marks of an earlier run are in the table when the store opens
    earlier.record_processed([("old", "0", "r")], [("r", T0, "old")])
    earlier.close()
    store = open_writer()
    _built(store)
    reads = _reads(store, monkeypatch)
    assert not store.is_processed("new", "0")
    assert not store.is_processed("new")
    assert store.processed_among([("new", "0"), ("other", "0")]) == set()
    assert reads == []  # answered from memory
    assert store.is_processed("old", "0")
    assert not store.is_processed("old", "e1")  # another revision of a marked message: read
    assert reads == ["seen", "seen"]
    store.record_processed([("new", "0", "r")], [("r", T0 + timedelta(seconds=1), "new")])
    assert store.is_processed("new", "0")
    assert store.processed_among([("new", "0"), ("old", "0"), ("x", "0")]) == {
        ("new", "0"),
        ("old", "0"),
    }


def test_marks_made_while_the_filter_is_built_are_never_missed(
    open_writer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = open_writer()
    earlier.record_processed([(m, "0", "r") for m in _ids(20_000, 3)])
    earlier.close()
    store = open_writer()
    scan = store.marked_ids
    scanning = threading.Event()

    def slow_scan() -> Iterator[str]:
        for n, msg_id in enumerate(scan()):
            if n % 1000 == 0:
                scanning.set()
                threading.Event().wait(0.005)
            yield msg_id

    monkeypatch.setattr(store, "marked_ids", slow_scan)  # what the filter's build reads
    marked: list[str] = []

    def marker(seed: int) -> None:
        for n, msg_id in enumerate(_ids(300, seed)):
            store.record_processed([(msg_id, "0", "r")], soon=n % 2 == 0)
            marked.append(msg_id)

    workers = [threading.Thread(target=marker, args=(seed,)) for seed in (10, 11)]
    for worker in workers:  # the first mark starts the build: the others come during it
        worker.start()
    scanning.wait(10)
    for worker in workers:
        worker.join()
    wait_until(lambda: store.marks_filter.builds == 1, 20, "the filter built")
    store.flush_processed()
    assert len(marked) == 600
    assert [m for m in marked if not store.marks_filter.may_have(m)] == []
    assert all(store.is_processed(m, "0") for m in marked)


def test_under_the_ha_fence_every_lookup_reads_the_table(open_writer: Any) -> None:
    fenced = open_writer(fence=lambda conn: None)
    peer = open_writer(fence=lambda conn: None)
    assert not fenced.is_processed("m1", "0")
    peer.record_processed([("m1", "0", "r")])  # the other instance handled it
    assert fenced.is_processed("m1", "0")
    assert fenced.marks_filter.builds == 0


def test_pruning_builds_a_full_filter_anew(
    open_writer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mark_filter, "MIN_CAPACITY", 100)
    store = open_writer()
    _built(store)
    assert store.marks_filter.capacity == 100
    old = _ids(300, 4)
    store.record_processed([(m, "0", "r") for m in old], [("r", T0, old[-1])])
    assert store.marks_filter.count > store.marks_filter.capacity
    with store.transaction() as conn:  # marked long before the room's newest message
        conn.exec_driver_sql(
            "UPDATE processed_messages SET processed_at = ?", (T0 - timedelta(days=30),)
        )
    store.advance_cursor("r", T0 + timedelta(days=1))
    assert store.prune_processed(timedelta(days=1)) == 300
    wait_until(lambda: store.marks_filter.builds == 2, 10, "the filter built again")
    assert store.marks_filter.count == 1  # the first mark (a room without a cursor) is kept
    assert not any(store.is_processed(m, "0") for m in old)


def test_a_store_that_only_reads_the_marks_always_reads_them(open_writer: Any) -> None:
    """A tool or a test looking at the bot's file: the bot writes, this store only asks."""
    writer, reader = open_writer(), open_writer()
    assert not reader.is_processed("m1", "0")
    writer.record_processed([("m1", "0", "r")])
    assert reader.is_processed("m1", "0")
    assert reader.marks_filter.builds == 0


def test_a_store_not_opened_as_the_only_writer_reads_every_time(open_writer: Any) -> None:
    """Two stores writing one file (two processes, no lease): each sees the other's marks."""
    a, b = open_writer(sole_writer=False), open_writer(sole_writer=False)
    a.record_processed([("a1", "0", "r")])
    b.record_processed([("b1", "0", "r")])
    assert a.is_processed("b1", "0") and b.is_processed("a1", "0")
    assert a.marks_filter.builds == b.marks_filter.builds == 0
