"""The livechat room strategy and intake on the in-process fake (the e2e suites run them against
the dev server over real sockets: tests/test_e2e_livechat*.py).

`LivechatFake` keeps Rocket.Chat's membership rules for `l` rooms: humans come in by being added,
leave only through a forward (which keeps its target alone) or the close; a forward to whoever
serves already is refused.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from fakes import FakeChat
from test_workflow_service import Desk

from bot.chat.errors import NotAllowed, ServerError
from bot.chat.types import Message, Room, Subscription, UserRef, Visitor
from bot.domain import State
from bot.services.intake.opening import opened


class LivechatFake(FakeChat):
    def __init__(self) -> None:
        super().__init__()
        self.subs: dict[str, set[str]] = {}
        self.deny_add = False
        #: agents Rocket.Chat does not consider available (a forward to them is refused)
        self.unavailable: set[str] = set()
        self.calls: list[tuple[str, ...]] = []

    def new_livechat(self, rid: str, visitor: str, department: str | None = None) -> Room:
        room = Room(
            id=rid,
            type="l",
            fname=f"{visitor} name",
            visitor=Visitor(id=f"v-{visitor}", username=visitor, name=f"{visitor} name"),
            served_by=self.bot_user.ref,
            department_id=department,
            source_type="widget",
        )
        self.rooms[rid] = room
        first = Message(
            id=f"first-{rid}",
            rid=rid,
            text="Hello, I need help",
            ts=self.next_ts(),
            author=UserRef(f"v-{visitor}", visitor),
            from_visitor=True,
            room_type="l",
        )
        self.messages.setdefault(rid, []).append(first)
        self.subs[rid] = {self.bot_user.username}
        return room

    def set_room(self, rid: str, **changes) -> None:
        self.rooms[rid] = dataclasses.replace(self.rooms[rid], **changes)

    def livechat_set_available(self) -> str:
        return "available"

    def livechat_open_rooms(self) -> list[Room]:
        return [
            r
            for r in self.rooms.values()
            if r.type == "l" and r.open and r.served_by and r.served_by.id == self.bot_user.id
        ]

    def livechat_room(self, rid: str) -> Room | None:
        return self.rooms.get(rid)

    def livechat_add_agent(self, rid: str, username: str) -> None:
        self.calls.append(("add", rid, username))
        if self.deny_add:
            raise NotAllowed("addUsersToRoom: not allowed", error="error-not-allowed")
        self.subs[rid].add(username)

    def livechat_forward(self, rid: str, user_id: str, comment: str | None = None) -> None:
        target = next(u for u in self.users.values() if u.id == user_id)
        self.calls.append(("forward", rid, target.username))
        if target.username in self.unavailable:
            raise ServerError("x: error-user-is-offline", error=400)
        room = self.rooms[rid]
        if room.served_by and room.served_by.id == user_id:
            raise ServerError("x: error-selected-agent-room-agent-are-same", error=400)
        self.set_room(rid, served_by=UserRef(target.id, target.username))
        self.subs[rid] = {target.username}

    def livechat_join(self, rid: str) -> None:
        self.calls.append(("join", rid))
        self.subs[rid].add(self.bot_user.username)

    def livechat_close(self, rid: str, comment: str, tags=()) -> None:
        self.calls.append(("close", rid, comment, *tags))
        self.set_room(rid, open=False)
        self.subs[rid] = set()

    def visitor(self, visitor_id: str):
        return None

    def members(self, rid: str):
        if rid in self.subs:
            return [self.users[u] for u in sorted(self.subs[rid]) if u in self.users]
        return super().members(rid)


LIVECHAT = {"intake": {"livechat": {"enabled": True, "departments": {"dep-sales": "sales"}}}}


@pytest.fixture
def desk(tmp_path: Path):
    d = Desk(f"sqlite:///{tmp_path / 'omnicat.db'}", LIVECHAT, chat=LivechatFake())
    yield d
    d.app.stop(5)
    d.store.close()


def arrive(desk: Desk, rid: str, visitor: str = "guest-1", department: str | None = None):
    desk.chat.new_livechat(rid, visitor, department)
    desk.wf.livechat.on_subscription("inserted", Subscription(id="s", rid=rid, type="l"), rid)
    return desk.wf.queue.by_room(rid)


def test_a_livechat_room_is_the_conversation_room_and_humans_move_by_forward(desk) -> None:
    desk.available("alice", "bob")
    conv = arrive(desk, "L1")
    assert conv.source == "livechat" and conv.rid == "L1" and conv.contact_username == "guest-1"
    assert conv.state is State.QUEUED
    assert not [e for e in desk.chat.effects if e.kind == "create_group"]
    assert "number 1 in the queue" in desk.chat.sent("L1")[-1]
    # again (a reconnect listing the same room): nothing doubles
    desk.wf.livechat.on_connected(False)
    desk.app.wait_idle(5)
    assert desk.wf.repo.conversation_count("guest-1") == 1

    desk.dm("alice", f"/take #{conv.number}")
    assert desk.conv(conv.number).agent == "alice"
    assert desk.chat.subs["L1"] == {"omnicat", "alice"}  # forwarded to alice, the bot rejoined
    # Rocket.Chat names the human as the serving agent (the widget's header, servedBy)
    assert desk.chat.rooms["L1"].served_by.username == "alice"

    assert "to @bob" in desk.dm("maria", f"/forward #{conv.number} @bob")
    assert desk.conv(conv.number).agent == "bob"
    assert desk.chat.subs["L1"] == {"omnicat", "bob"}  # alice left, the bot rejoined

    desk.dm("bob", f"/requeue #{conv.number}")
    assert desk.chat.subs["L1"] == {"omnicat"}
    assert desk.chat.rooms["L1"].served_by.username == "omnicat"

    desk.dm("alice", f"/take #{conv.number}")
    desk.dm("alice", f"/requeue #{conv.number}")  # served by the bot: two hops
    assert desk.chat.subs["L1"] == {"omnicat"}

    desk.dm("bob", f"/take #{conv.number}")
    answer = desk.dm("bob", f'/close #{conv.number} "all good" tags=billing')
    assert "closed" in answer
    # Rocket.Chat stores the close comment where the visitor reads it: only the catalogue's
    # words go there; the agent's comment stays in the store
    closed = f"Your conversation #{conv.number} is closed. Write to me again any time."
    assert ("close", "L1", closed, "billing") in desk.chat.calls
    assert not [c for c in desk.chat.calls if c[0] == "close" and "all good" in c]
    assert desk.conv(conv.number).state is State.CLOSED
    assert desk.conv(conv.number).comment == "all good"


def test_a_refused_add_gives_the_agent_the_reason_and_leaves_the_chat_queued(desk) -> None:
    desk.available("alice")
    conv = arrive(desk, "L2", "guest-2")
    desk.chat.deny_add = True
    desk.chat.unavailable.add("alice")  # no forward to her: the add is the way in, refused
    answer = desk.dm("alice", f"/take #{conv.number}")
    assert "add-user-to-joined-room" in answer and "omnicat check-server" in answer
    assert desk.conv(conv.number).state is State.QUEUED


def test_an_agent_rocket_chat_calls_unavailable_serves_as_a_member(desk) -> None:
    desk.available("alice")
    conv = arrive(desk, "L4", "guest-4")
    desk.chat.unavailable.add("alice")
    assert desk.dm("alice", f"/take #{conv.number}").startswith(f"You took #{conv.number}")
    assert desk.conv(conv.number).agent == "alice"
    assert desk.chat.subs["L4"] == {"omnicat", "alice"}
    assert desk.chat.rooms["L4"].served_by.username == "omnicat"  # the widget names the bot
    told = desk.notes(conv.number, "alice")
    assert any("Rocket.Chat would not make you the serving agent" in t for t in told), told
    # the visitor reads only the catalogue's words, none of the agent's note
    assert not any("Rocket.Chat" in t for t in desk.chat.sent("L4"))


def test_department_mapping_and_outside_close(desk) -> None:
    conv = arrive(desk, "L3", "guest-3", department="dep-sales")
    assert conv.department == "sales"
    desk.chat.set_room("L3", open=False, closer="visitor")
    desk.wf.livechat.on_subscription("removed", None, "L3")
    after = desk.conv(conv.number)
    assert after.state is State.CLOSED and after.closer == "contact"
    desk.wf.livechat.on_subscription("removed", None, "L3")  # exactly once
    assert len([e for e in desk.wf.repo.events(conv.number) if e.kind == "closed"]) == 1


def test_the_department_map_is_checked_when_the_config_loads() -> None:
    import yaml

    from bot.config.load import ConfigError, parse_config

    data = {
        "server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"},
        "departments": {"support": {"agents": ["bob"]}},
        "intake": {"livechat": {"enabled": True, "departments": {"dep-x": "suport"}}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(data), "omnicat.yaml", env={})
    text = str(caught.value)
    assert "intake.livechat.departments.dep-x" in text and "did you mean 'support'" in text


def test_a_department_is_mapped_by_its_rocket_chat_name_too(tmp_path: Path) -> None:
    chat = LivechatFake()
    chat.livechat_department_name = lambda dep_id: {"d-77": "Sales"}.get(dep_id)  # type: ignore[attr-defined]
    config = {"intake": {"livechat": {"enabled": True, "departments": {"Sales": "sales"}}}}
    d = Desk(f"sqlite:///{tmp_path / 'omnicat.db'}", config, chat=chat)
    try:
        assert arrive(d, "L9", "guest-9", department="d-77").department == "sales"
        assert arrive(d, "L10", "guest-10", department="d-unknown").department is None
    finally:
        d.app.stop(5)
        d.store.close()


class Killed(BaseException):
    """A kill -9 at that point: nothing after it runs."""


def test_a_kill_right_after_the_row_leaves_a_chat_routing_waits_for(desk, monkeypatch) -> None:
    """Seen in the livechat kill -9 suite: the row committed, then the kill; after the restart a
    routing pass assigned the chat before anything finished its opening, so the visitor was
    never told and the room had no opening note."""
    desk.available("alice")
    real_create = desk.wf.repo.create

    def create_then_die(*args, **kwargs):
        real_create(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(desk.wf.repo, "create", create_then_die)
    with pytest.raises(Killed):
        arrive(desk, "L9")
    monkeypatch.undo()
    conv = desk.wf.queue.by_room("L9")
    assert conv is not None and conv.state is State.QUEUED

    # the restarted run: a routing pass first (an agent became free, the queue is rerouted)
    desk.wf.routing.opening_rooms.clear()
    desk.wf.routing.route(conv.number)
    assert desk.conv(conv.number).state is State.QUEUED
    assert desk.chat.sent("L9") == []

    # then the catch-up replays the visitor's first line: the opening is finished, then routed
    first = desk.chat.messages["L9"][0]
    desk.app.handle_conversation_message(first)
    desk.app.wait_idle(5)
    told = desk.chat.sent("L9")
    # the opening finished once (marked in the store; no agents' note where the visitor reads)
    assert opened(desk.wf, conv.number)
    assert not any(t.startswith(f"Conversation #{conv.number} with") for t in told)
    assert sum(t.startswith("Thanks!") for t in told) == 1

    # and the reconnect's own pass over the rooms doubles nothing
    desk.wf.livechat.on_connected(False)
    desk.app.wait_idle(5)
    assert desk.chat.sent("L9") == told


def test_the_bot_leaving_mid_move_out_is_not_taken_for_a_forward_in_rocket_chat(desk) -> None:
    """Seen in the livechat kill -9 and storm suites: `/requeue` moves the agent out by
    forwarding the room to them and then back to the bot. The first forward removes the bot's
    subscription, which sends the intake to look at the room (on the room's queue, concurrently
    with the command). Read between the two forwards, the room looked forwarded to the agent in
    Rocket.Chat: the conversation followed ("forwarded in Rocket.Chat") and the store seated an
    agent the room no longer had."""
    desk.available("alice")
    conv = arrive(desk, "L4", "guest-4")
    desk.dm("alice", f"/take #{conv.number}")
    assert desk.chat.subs["L4"] == {"omnicat", "alice"}

    real_forward, real_room = desk.chat.livechat_forward, desk.chat.livechat_room
    follower: list[threading.Thread] = []
    follower_read = threading.Event()

    def room(rid: str):
        if threading.current_thread() in follower:
            follower_read.set()
        return real_room(rid)

    def forward(rid: str, user_id: str, comment: str | None = None) -> None:
        real_forward(rid, user_id, comment)
        if not follower:  # the first hop: the bot lost its subscription
            thread = threading.Thread(
                target=desk.wf.livechat.on_subscription, args=("removed", None, rid)
            )
            follower.append(thread)
            thread.start()
            # the follower reads the room now, unless it waits for the command to finish
            follower_read.wait(1.0)

    desk.chat.livechat_forward, desk.chat.livechat_room = forward, room  # type: ignore[method-assign]
    desk.dm("alice", f"/requeue #{conv.number}")
    follower[0].join(10)
    assert not follower[0].is_alive()

    after = desk.conv(conv.number)
    assert after.state is State.QUEUED and after.agent is None, after
    assert not [e for e in desk.wf.repo.events(conv.number) if e.kind == "forwarded"]
    assert desk.chat.subs["L4"] == {"omnicat"}
    assert desk.chat.rooms["L4"].served_by.username == "omnicat"


def test_a_move_out_cut_short_is_finished_not_followed_as_a_forward(desk) -> None:
    """Seen in the livechat storm: `/requeue` moves the agent out by forwarding the room back to
    the bot; when that forward fails (a disconnect, a kill), the room is still served by the
    agent the store just took out. The reconnect's sweep must finish the move-out, not read it
    as a forward made in Rocket.Chat (which would seat the agent again, or leave them in the
    room of a queued chat)."""
    desk.available("alice")
    conv = arrive(desk, "L5", "guest-5")
    desk.dm("alice", f"/take #{conv.number}")
    assert desk.chat.rooms["L5"].served_by.username == "alice"

    real_forward = desk.chat.livechat_forward

    def lost(rid: str, user_id: str, comment: str | None = None) -> None:
        raise ServerError("livechat/room.forward: Connection lost", error=500)

    desk.chat.livechat_forward = lost  # type: ignore[method-assign]
    desk.dm("alice", f"/requeue #{conv.number}")
    desk.chat.livechat_forward = real_forward  # type: ignore[method-assign]
    assert desk.conv(conv.number).state is State.QUEUED
    assert desk.chat.subs["L5"] == {"omnicat", "alice"}  # the move-out did not happen

    desk.wf.livechat.on_connected(False)  # the bot serves the room no more: it looks
    desk.app.wait_idle(5)

    after = desk.conv(conv.number)
    assert after.state is State.QUEUED and after.agent is None, after
    assert not [e for e in desk.wf.repo.events(conv.number) if e.kind == "forwarded"]
    assert desk.chat.subs["L5"] == {"omnicat"}
    assert desk.chat.rooms["L5"].served_by.username == "omnicat"
