"""The batched ingest path (issue 7): a room's burst of plain conversation messages is stored in
one transaction and marked in one, with the guarantees of the one-by-one path: the same rows and
metrics, per-room order, de-duplication, marks only after the effects, idempotent replays.

The real dispatcher, workflow, timers and SQLite store, on a FakeChat.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from desk import build
from fakes import BASE_TIME, FakeChat

from bot.chat.types import Message
from bot.config.load import parse_config
from bot.dispatch.handlers import Observer
from bot.dispatch.middleware import Event
from bot.dispatch.ordering import KeyedSerialExecutor
from bot.dispatch.rooms import ROOM_CONVERSATION
from bot.domain import AGENT, CONTACT, State
from bot.store import Store


class Desk:
    """The bot on a FakeChat, with one conversation carol ↔ alice already served."""

    def __init__(self, tmp_path: Path) -> None:
        data = {
            "server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"},
            "departments": {"support": {"agents": ["alice", "bob"]}},
            "commands": {"rate_limit": {"count": 0}},
            "intake": {"dm": {"department": "support"}},
            "timers": {"abandoned": {"after": "30m", "action": "close"}},
        }
        self.config = parse_config(yaml.safe_dump(data), "<test>", env={})
        self.chat = FakeChat()
        for name in ("alice", "bob"):
            self.chat.add_user(name, "user", "livechat-agent")
        self.chat.add_user("carol", "user", name="Carol Contact")
        self.now = BASE_TIME
        self.store = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
        self.seen: list[str] = []  # what the conversation handlers saw first, in order
        #: run before the conversation handlers (a test's fault injection)
        self.before: list[Callable[[Message], None]] = []
        parts = build(
            store=self.store,
            config=self.config,
            chat=self.chat,
            clock=lambda: self.now,
            timers=True,
            observers=[Observer(self.observe, frozenset({ROOM_CONVERSATION}))],
        )
        self.app, self.wf, self.timers = parts.app, parts.services, parts.timers
        assert self.timers is not None
        self.timers.start(paused=True)
        self.process(self.msg("alice", self.chat.dm_room("alice"), "/status available"))
        self.process(self.msg("carol", self.chat.dm_room("carol"), "my printer is on fire"))
        conv = self.wf.repo.open_for_contact("carol")
        self.process(self.msg("alice", self.chat.dm_room("alice"), f"/take {conv.number}"))
        self.number = conv.number
        self.rid = self.conv().rid
        self.seen.clear()

    def observe(self, event: Event) -> None:
        self.seen.append(event.message.id)
        for step in self.before:
            step(event.message)

    def msg(self, username: str, rid: str, text: str) -> Message:
        self.now += timedelta(seconds=1)
        return self.chat.say(username, rid, text, ts=self.now)

    def process(self, message: Message) -> str:
        return self.app.process(message)

    def conv(self) -> Any:
        return self.wf.repo.get(self.number)

    def stream(self, n: int, first: str = "carol") -> list[Message]:
        """`n` plain messages in the conversation room, contact and agent taking turns."""
        other = "alice" if first == "carol" else "carol"
        return [self.msg(first if i % 2 == 0 else other, self.rid, f"line {i}") for i in range(n)]

    def stored(self, messages: list[Message] | None = None) -> list[tuple[str, str]]:
        """(id, text) of the room's stored messages in time order (only these `messages`')."""
        ids = None if messages is None else {m.id for m in messages}
        rows = self.wf.messages.for_room(self.rid)
        return [(m.id, m.text) for m in rows if ids is None or m.id in ids]

    def count_transactions(self) -> Callable[[], int]:
        """The store's write transactions from now on (SQLAlchemy's and the driver's hot
        path's, `Store.write_transactions`), as a function to call after the work. The marks
        of earlier commands that wait to be written (`bot.store.pending_marks`) go first."""
        self.store.flush_processed()
        start = self.store.write_transactions
        return lambda: self.store.write_transactions - start

    def stop(self) -> None:
        self.timers.stop()
        self.app.stop(5)
        self.store.close()


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = Desk(tmp_path)
    yield d
    d.stop()


def expected_metrics(desk: Desk, before: Any, messages: list[Message]) -> Any:
    """The one-by-one rule: `note_message` for each message in order."""

    def note(conv: Any, m: Message) -> Any:
        return conv.note_message(
            CONTACT if m.author.username == conv.contact_username else AGENT, m.ts
        )

    return reduce(note, messages, before).metrics


def test_a_burst_is_two_transactions_with_one_by_one_results(desk: Desk) -> None:
    before = desk.conv()
    messages = desk.stream(40)
    writes = desk.count_transactions()
    assert desk.app.process_many(messages) == ["conversation"] * 40
    assert writes() == 2  # the messages with their metrics; the marks with the cursor
    assert desk.seen == [m.id for m in messages]  # every wrapper saw every message, in order
    assert desk.conv().metrics == expected_metrics(desk, before, messages)
    assert desk.conv().metrics.response_count == 20
    assert desk.stored(messages) == [(m.id, m.text) for m in messages]
    assert all(desk.store.is_processed(m.id, "0") for m in messages)
    assert desk.store.cursor(desk.rid).last_msg_id == messages[-1].id
    assert desk.wf.messages.generation(desk.rid) > 0  # the search engine's copy is stale now


def test_messages_of_many_rooms_share_the_transactions(desk: Desk) -> None:
    desk.chat.add_user("dan", "user")
    desk.process(desk.msg("dan", desk.chat.dm_room("dan"), "hello, anyone?"))
    other = desk.wf.repo.open_for_contact("dan")
    desk.process(desk.msg("bob", desk.chat.dm_room("bob"), "/status available"))
    desk.process(desk.msg("bob", desk.chat.dm_room("bob"), f"/take {other.number}"))
    other = desk.wf.repo.get(other.number)
    befores = {desk.rid: desk.conv(), other.rid: other}
    messages = []
    for i in range(10):
        messages.append(desk.msg("carol" if i % 2 == 0 else "alice", desk.rid, f"a{i}"))
        messages.append(desk.msg("dan" if i % 2 == 0 else "bob", other.rid, f"b{i}"))
    writes = desk.count_transactions()
    assert desk.app.process_many(messages) == ["conversation"] * 20
    assert writes() == 2
    for rid, before in befores.items():
        mine = [m for m in messages if m.rid == rid]
        assert desk.wf.repo.by_room(rid).metrics == expected_metrics(desk, before, mine)
        assert desk.store.cursor(rid).last_msg_id == mine[-1].id


def test_the_pool_drains_a_rooms_queue_as_one_batch(desk: Desk) -> None:
    before = desk.conv()
    gate = threading.Event()
    desk.app.rooms.submit(desk.rid, gate.wait, 30)  # the room's worker is busy meanwhile
    messages = desk.stream(60)
    for m in messages:
        desk.app.on_message(m)
    writes = desk.count_transactions()
    gate.set()
    assert desk.app.wait_idle(30)
    assert writes() == 2
    assert desk.seen == [m.id for m in messages]
    assert desk.conv().metrics == expected_metrics(desk, before, messages)


def test_a_command_splits_the_run_and_keeps_the_order(desk: Desk) -> None:
    a = desk.msg("carol", desk.rid, "hello?")
    b = desk.msg("alice", desk.rid, "hi Carol, one moment")
    hold = desk.msg("alice", desk.rid, "/hold")
    c = desk.msg("carol", desk.rid, "I'm back")  # a contact in a held chat: auto-resume
    d = desk.msg("alice", desk.rid, "welcome back")
    results = desk.app.process_many([a, b, hold, c, d])
    assert results[:2] == ["conversation", "conversation"]
    assert results[2] == "command:ok"
    assert results[3:] == ["conversation", "conversation"]
    assert desk.conv().state is State.SERVING
    # the agent-only note goes to alice's console thread (issue 16), never to the customer room
    resumed = "Resumed automatically: @carol wrote: > I'm back"
    assert resumed in desk.chat.console(desk.wf, desk.number, "alice")
    assert not any(t.startswith("Resumed automatically") for t in desk.chat.sent(desk.rid))
    assert desk.conv().metrics.last_agent_reply_at == d.ts
    assert desk.seen == [a.id, b.id, c.id, d.id]


def test_duplicates_within_and_across_batches(desk: Desk) -> None:
    m1, m2, m3 = desk.stream(3)
    assert desk.app.process_many([m1, m2, m1]) == ["conversation", "conversation", "duplicate"]
    assert desk.app.process_many([m2, m3]) == ["duplicate", "conversation"]
    assert desk.process(m3) == "duplicate"
    assert desk.conv().metrics.response_count == 1
    assert desk.seen == [m1.id, m2.id, m3.id]


def test_a_crash_before_the_marks_replays_without_counting_twice(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 after the messages were stored and handled, before they were marked: the next
    run processes them again (nothing is lost) and the metrics count each reply once."""
    before = desk.conv()
    messages = desk.stream(6)

    def killed(*_a: Any, **_k: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("the process died here"))

    monkeypatch.setattr(desk.store, "record_processed", killed)
    desk.app.process_many(messages)
    assert not any(desk.store.is_processed(m.id, "0") for m in messages)
    once = desk.conv().metrics
    assert once == expected_metrics(desk, before, messages)
    monkeypatch.undo()
    assert desk.app.process_many(messages) == ["conversation"] * 6  # replayed, not lost
    assert desk.conv().metrics == once
    assert all(desk.store.is_processed(m.id, "0") for m in messages)
    assert desk.stored(messages) == [(m.id, m.text) for m in messages]


def test_a_failed_batch_store_falls_back_to_the_handler(desk: Desk) -> None:
    before = desk.conv()

    def broken(rid: str, batch: Any) -> Any:
        raise RuntimeError("disk on fire")

    desk.app.routes.store_conversation_messages = broken
    messages = desk.stream(4)
    assert desk.app.process_many(messages) == ["conversation"] * 4
    assert desk.conv().metrics == expected_metrics(desk, before, messages)
    assert desk.stored(messages) == [(m.id, m.text) for m in messages]


def test_edits_and_deletions_take_the_one_by_one_path(desk: Desk) -> None:
    m1, m2 = desk.stream(2)
    desk.app.process_many([m1, m2])
    metrics = desk.conv().metrics
    edited = desk.chat.edit(m1, "line 0, corrected")
    assert desk.app.process_many([edited]) == ["conversation"]
    assert (m1.id, "line 0, corrected") in desk.stored()
    assert desk.conv().metrics == metrics  # an edit is not a new message


def test_a_handler_error_is_reported_and_still_marked(desk: Desk) -> None:
    messages = desk.stream(3)

    def flaky(message: Message) -> None:
        if message.id == messages[1].id:
            raise RuntimeError("boom")

    desk.before.append(flaky)
    assert desk.app.process_many(messages) == ["conversation", "error", "conversation"]
    assert all(desk.store.is_processed(m.id, "0") for m in messages)  # as `_route` does


# --- the executor -------------------------------------------------------------------------------
def test_submit_batch_takes_the_runs_at_the_heads_of_the_rooms() -> None:
    """One worker, so the order of the pool's tasks is fixed: the first batch takes room r1's
    run and the runs at the heads of r2 and r3; a plain job ends r3's run."""
    ex = KeyedSerialExecutor(max_workers=1)
    calls: list[Any] = []
    gate = threading.Event()
    try:
        ex.submit("g", gate.wait, 30)
        for key, item in [("r1", "a"), ("r2", "c"), ("r1", "b"), ("r3", "d")]:
            ex.submit_batch(key, calls.append, item)
        ex.submit("r3", calls.append, "plain")
        ex.submit_batch("r3", calls.append, "e")
        gate.set()
        assert ex.wait_idle(30)
    finally:
        ex.stop(5)
    assert calls == [["a", "b", "c", "d"], "plain", ["e"]]
    assert ex.pending == 0


def test_a_batch_holds_max_batch_items_and_each_rooms_order() -> None:
    ex = KeyedSerialExecutor(max_workers=1, max_batch=3)
    calls: list[Any] = []
    gate = threading.Event()
    try:
        ex.submit("g", gate.wait, 30)
        for item in "abcd":
            ex.submit_batch("r1", calls.append, item)
        ex.submit_batch("r2", calls.append, "x")
        gate.set()
        assert ex.wait_idle(30)
    finally:
        ex.stop(5)
    assert calls == [["a", "b", "c"], ["x", "d"]]


def test_rooms_of_a_batch_are_held_while_it_runs() -> None:
    """A room whose items a batch took runs nothing else until the batch is done."""
    ex = KeyedSerialExecutor(max_workers=4)
    inside = threading.Event()
    release = threading.Event()
    order: list[str] = []

    def batch(items: list[str]) -> None:
        inside.set()
        assert release.wait(30)
        order.extend(items)

    gate = threading.Event()
    try:
        ex.submit("r1", gate.wait, 30)
        ex.submit_batch("r1", batch, "a")
        ex.submit_batch("r2", batch, "b")  # r2's own task may take it first: either way
        gate.set()
        assert inside.wait(30)
        ex.submit("r2", order.append, "after-b")
        ex.submit("r1", order.append, "after-a")
        release.set()
        assert ex.wait_idle(30)
    finally:
        ex.stop(5)
    assert order.index("a") < order.index("after-a")
    assert order.index("b") < order.index("after-b")
