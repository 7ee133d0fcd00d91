"""The timers' flush after a burst over many rooms: one read for all the dirty rooms, one
job-store transaction for what changed, and no SQL at all for timers that did not change or
were never armed. The guarantees (replace, no doubles, restarts) hold on the batched path.

Same desk as `test_timers_workflow.py`: real dispatcher, workflow and SQLite, paused scheduler.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_timers_workflow import MIN, Desk

from bot.domain import State

ROOMS = 12


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = Desk(tmp_path)
    yield d
    d.stop()


@contextmanager
def statements(desk: Desk) -> Iterator[list[str]]:
    """The SQL statements run on the store's engine (the job store's too) meanwhile."""
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, executemany) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(desk.store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(desk.store.engine, "before_cursor_execute", record)


def served_many(desk: Desk, count: int = ROOMS) -> dict[int, str]:
    """`count` conversations taken and greeted by alice: number -> room."""
    desk.dm("alice", "/status available")
    rooms = {}
    for i in range(count):
        contact = f"contact{i}"
        desk.chat.add_user(contact, "user")
        desk.dm(contact, "my printer is on fire")
        n = desk.wf.repo.open_for_contact(contact).number
        desk.dm("alice", f"/take {n}")
        rooms[n] = desk.conv(n).rid
        desk.say("alice", rooms[n], "Hello, let me look.")
    desk.timers.flush()
    return rooms


def job_rows(desk: Desk) -> list[tuple[str, int]]:
    query = sa.text(f"SELECT id, count(*) FROM {desk.timers.table} GROUP BY id")
    with desk.store.reading() as conn:
        return [(row[0], row[1]) for row in conn.execute(query)]


def test_a_burst_over_many_rooms_is_one_read_and_one_write(desk: Desk) -> None:
    rooms = served_many(desk)
    assert {f"abandoned:{n}" for n in rooms} <= desk.jobs()
    for n, rid in rooms.items():
        desk.say(desk.conv(n).contact_username, rid, "still broken")
    with statements(desk) as seen:
        assert desk.timers.flush() == ROOMS
    # The conversations of all the rooms in one SELECT; the moot alarms in one DELETE.
    assert seen == ["SELECT", "DELETE"], seen
    assert not {f"abandoned:{n}" for n in rooms} & desk.jobs()
    assert {f"unanswered_transfer:{n}" for n in rooms}.isdisjoint(desk.jobs())


def test_a_flush_where_nothing_changed_writes_nothing(desk: Desk) -> None:
    rooms = served_many(desk, 4)
    before = desk.timers.jobs()
    for rid in rooms.values():
        desk.say("alice", rid, "still looking")  # abandoned moves later: the old alarm stays
    with statements(desk) as seen:
        desk.timers.flush()
    assert seen == ["SELECT"], seen  # the conversations only
    assert desk.timers.jobs() == before
    with statements(desk) as seen:
        assert desk.timers.flush() == 0
    assert seen == []


def test_cancelling_what_is_not_armed_costs_no_query(desk: Desk) -> None:
    n = desk.served()
    desk.timers.flush()
    with statements(desk) as seen:
        desk.timers.cancel("abandoned:999")
        desk.timers.cancel(f"queue_max_wait:{n}")
        desk.timers.agent_changed("alice")  # available, nothing armed
    assert seen == []


def test_re_arming_replaces_the_stored_job_and_nothing_doubles(desk: Desk) -> None:
    rooms = served_many(desk, 3)
    first = desk.timers.jobs()
    desk.clock.tick(5 * 60)
    for rid in rooms.values():
        desk.say("alice", rid, "found it")
    desk.timers.flush()
    assert desk.timers.jobs() == first  # lazily kept: the old alarm re-arms when it rings
    for n in rooms:
        desk.timers.arm(n)  # exact
    for n in rooms:
        replied = desk.conv(n).metrics.last_agent_reply_at
        assert desk.timers.jobs()[f"abandoned:{n}"] == replied + 30 * MIN
    assert all(count == 1 for _id, count in job_rows(desk))


def test_the_old_alarm_rings_finds_it_later_and_re_arms(desk: Desk) -> None:
    rooms = served_many(desk, 3)
    desk.clock.tick(10 * 60)
    for rid in rooms.values():
        desk.say("alice", rid, "one more thing")
    desk.timers.flush()
    outcomes = desk.later(21)  # the first replies' alarms ring: not due any more
    assert sorted(outcomes) == sorted(("abandoned", str(n), "later") for n in rooms)
    assert all(desk.conv(n).state is State.SERVING for n in rooms)
    outcomes = desk.later(10)
    assert sorted(outcomes) == sorted(("abandoned", str(n), "closed") for n in rooms)
    assert all(count == 1 for _id, count in job_rows(desk))


def test_batched_jobs_survive_a_restart_and_ring_once(desk: Desk) -> None:
    rooms = served_many(desk, 5)
    before = desk.timers.jobs()
    desk.restart(reconcile=False)
    assert desk.timers.jobs() == before  # unpickled by APScheduler from the batch's rows
    outcomes = desk.later(31)
    assert sorted(outcomes) == sorted(("abandoned", str(n), "closed") for n in rooms)
    assert desk.later(60) == []
    for n in rooms:
        assert [e.kind for e in desk.store.events(n)].count("closed") == 1


def test_reconcile_at_start_re_arms_every_open_conversation(desk: Desk) -> None:
    served_many(desk, 6)
    before = desk.timers.jobs()
    desk.stop()
    with sqlite3.connect(desk.tmp_path / "omnicat.db") as db:  # the alarms were lost
        db.execute(f"DELETE FROM {desk.timers.table}")
    desk.start()
    assert desk.timers.jobs() == before
