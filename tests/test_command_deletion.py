"""A command typed in a customer room is deleted from the room only once its work has committed
(issue 16's crash window): deleted earlier, a kill -9 before the commit would lose it for good,
since catch-up replays from the room's history and the command is no longer there.

The real dispatcher, workflow and store (SQLite and PostgreSQL) on the in-memory FakeChat.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_workflow_service import Desk

from bot.chat.types import Message
from bot.domain import State

pytestmark = pytest.mark.both_stores


class Killed(BaseException):
    """kill -9 stand-in: nothing after the raise runs (no `except Exception` stops it)."""


@pytest.fixture
def desk(store_url: str) -> Any:
    d = Desk(store_url)
    yield d
    d.app.stop(5)
    d.store.close()


def served(desk: Desk) -> int:
    """#n of carol's chat, taken by alice, who has replied (so it may go on hold)."""
    desk.available("alice")
    conv, _ = desk.ask("carol")
    desk.dm("alice", f"/take {conv.number}")
    desk.in_room("alice", conv.number, "Let me check that for you")
    return conv.number


def deleted_ids(desk: Desk) -> set[str]:
    return {e.data["msg_id"] for e in desk.chat.effects if e.kind == "delete"}


def room_history(desk: Desk, rid: str) -> list[Message]:
    """What catch-up reads after a restart: the room's messages the bot has not deleted."""
    gone = deleted_ids(desk)
    return [
        m
        for m in desk.chat.messages[rid]
        if m.id not in gone and m.author.username != desk.chat.bot_user.username
    ]


def test_the_command_is_deleted_after_its_work_committed(desk: Desk) -> None:
    n = served(desk)
    rid = desk.room(n)
    seen: list[tuple[State, bool, list[str]]] = []
    delete = desk.chat.delete_message

    def deleting(room: str, msg_id: str) -> None:
        # what a restarted bot would find in the store at this moment (a fresh read)
        seen.append((desk.conv(n).state, room == rid, list(desk.notes(n, "alice"))))
        delete(room, msg_id)

    desk.chat.delete_message = deleting  # type: ignore[method-assign]
    answer = desk.cmd("alice", n, "/hold")
    assert answer.startswith(f"#{n} is on hold.")
    assert len(seen) == 1
    state, in_room, notes_then = seen[0]
    assert in_room
    assert state is State.ON_HOLD  # the hold was committed before the command went
    assert notes_then[-1] == answer  # and its answer was already in the console thread


def test_a_kill_before_the_commit_leaves_the_command_to_replay(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = served(desk)
    rid = desk.room(n)
    repo = desk.wf.transitions.repo
    real = repo.transition

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise Killed  # the process dies as the hold is about to be written

    monkeypatch.setattr(repo, "transition", killed)
    desk.clock.tick()
    hold = desk.chat.say("alice", rid, "/hold", ts=desk.clock.now)
    with pytest.raises(Killed):
        desk.app.process(hold)
    # the answer's destination was chosen (the console thread exists), the work never committed
    assert desk.wf.console.repo.get(n, "alice") is not None
    assert desk.conv(n).state is State.SERVING
    assert hold.id not in deleted_ids(desk)  # so the command is still in the room ...
    assert not desk.store.is_processed(hold.id)

    # ... and the restarted bot's catch-up finds it there and carries it out
    monkeypatch.setattr(repo, "transition", real)
    desk.restart()
    replay = [m for m in room_history(desk, rid) if m.id == hold.id]
    assert replay
    assert desk.app.process_many(replay) == ["command:ok"]
    assert desk.conv(n).state is State.ON_HOLD
    assert desk.notes(n, "alice")[-1].startswith(f"#{n} is on hold.")
    assert hold.id in deleted_ids(desk)  # deleted once it was done
    assert desk.store.is_processed(hold.id)


def test_a_command_that_fails_is_still_taken_out_of_the_room(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler that raises is marked processed all the same (no replay): the command must
    not stay in the customer's room either."""
    n = served(desk)
    rid = desk.room(n)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store is on fire")

    monkeypatch.setattr(desk.wf.transitions.repo, "transition", broken)
    desk.clock.tick()
    hold = desk.chat.say("alice", rid, "/hold", ts=desk.clock.now)
    desk.app.process(hold)
    assert desk.conv(n).state is State.SERVING
    assert hold.id in deleted_ids(desk)
    assert desk.store.is_processed(hold.id)
