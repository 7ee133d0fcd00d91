"""The workflow service through the real dispatcher and store, on the in-memory FakeChat.

Each test reads like the chat: people say things in rooms, `Desk.say` runs the message through
`App.process` synchronously, and the test reads what the bot answered.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
import yaml
from desk import build
from fakes import Clock, FakeChat

from bot.chat.effect_scope import effect_scope, message_key
from bot.config.load import parse_config
from bot.domain import State
from bot.store import Store

DEPARTMENTS = {
    "support": {"agents": ["alice", "bob"]},
    "sales": {"agents": ["carl"]},
}


pytestmark = pytest.mark.both_stores


class Desk:
    """The bot (App + the services + a real store: SQLite, and PostgreSQL) on a FakeChat."""

    def __init__(self, store_url: str, config: dict[str, Any] | None = None, *, chat=None):
        data: dict[str, Any] = {
            "server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"},
            "departments": DEPARTMENTS,
            "commands": {"rate_limit": {"count": 0}},
        }
        data.update(config or {})
        self.config = parse_config(yaml.safe_dump(data, sort_keys=False), "<test>", env={})
        self.store_url = store_url
        self.chat = chat or FakeChat()
        for name in ("alice", "bob", "carl", "dave"):
            if name not in self.chat.users:
                self.chat.add_user(name, "user", "livechat-agent")
        if "maria" not in self.chat.users:
            self.chat.add_user("maria", "user", "livechat-manager")
            self.chat.add_user("carol", "user", name="Carol Contact")
            self.chat.add_user("zoe", "user")
        self.clock = Clock()
        self.start()

    def start(self) -> None:
        self.store = Store(self.store_url)
        # no transport: messages are processed directly
        parts = build(store=self.store, config=self.config, chat=self.chat, clock=self.clock)
        self.app, self.wf = parts.app, parts.services

    def restart(self) -> None:
        self.app.stop(5)
        self.store.close()
        self.start()

    # --- talking ------------------------------------------------------------------------------
    def say(self, username: str, rid: str, text: str) -> list[str]:
        """Post as `username` in `rid`; the bot's messages in `rid` caused by it."""
        self.clock.tick()
        before = len(self.chat.sent(rid))
        msg = self.chat.say(username, rid, text, ts=self.clock.now)
        self.app.process(msg)
        return self.chat.sent(rid)[before:]

    def dm(self, username: str, text: str) -> str:
        rid = self.chat.dm_room(username)
        out = self.say(username, rid, text)
        assert out, f"no answer to {text!r}"
        return out[-1]

    def in_room(self, username: str, number: int, text: str) -> list[str]:
        return self.say(username, self.room(number), text)

    def cmd(self, username: str, number: int, text: str) -> str:
        """Typed in the conversation room (the contact reads it): answered in the agent's
        console thread for it, never in the room."""
        before = len(self.notes(number, username))
        in_room = self.in_room(username, number, text)
        out = self.notes(number, username)[before:]
        assert out, f"no answer to {text!r}"
        assert out[-1] not in in_room
        return out[-1]

    def room(self, number: int) -> str:
        rid = self.wf.repo.get(number).rid
        assert rid
        return rid

    def conv(self, number: int):
        return self.wf.repo.get(number)

    def dms_to(self, username: str) -> list[str]:
        return self.chat.sent(self.chat.dm_room(username))

    def notes(self, number: int, agent: str | None = None) -> list[str]:
        """The agent-only notes about #number, in its console threads."""
        return self.chat.console(self.wf, number, agent)

    def available(self, *names: str) -> None:
        for name in names:
            assert "now available" in self.dm(name, "/status available")

    def ask(self, contact: str, text: str = "my printer is on fire", dept: str | None = None):
        """A contact starts a conversation (answering the department question if asked)."""
        answer = self.dm(contact, text)
        if "Which team" in answer:
            answer = self.dm(contact, dept or "support")
        return self.wf.repo.open_for_contact(contact), answer


@pytest.fixture
def desk(store_url: str) -> Desk:
    d = Desk(store_url)
    yield d
    d.app.stop(5)
    d.store.close()


# --- intake -------------------------------------------------------------------------------------
def test_dm_intake_asks_the_department_then_opens_a_room(desk: Desk) -> None:
    question = desk.dm("carol", "Hello, my invoice is wrong")
    assert question.startswith("Hello! Which team can help you?")
    assert "1. support" in question and "2. sales" in question
    assert desk.dm("carol", "7").startswith("Sorry, I didn't get that.")
    told = desk.dm("carol", "2")
    conv = desk.wf.repo.open_for_contact("carol")
    assert conv.department == "sales" and conv.state is State.QUEUED
    assert f"#{conv.number}" in told and "omni-1-carol" in told
    assert "You are number 1 in the queue" in told
    # the case room holds nothing of the agents' (no opening note: the contact reads it), only
    # the catalogue's opening with the contact's own question
    assert desk.chat.sent(conv.rid) == [
        f"Conversation #{conv.number}. You wrote:\n> Hello, my invoice is wrong"
    ]
    assert desk.wf.queue.first_line(conv) == "Hello, my invoice is wrong"
    # a second message in the DM points to the room instead of opening another one
    pointer = desk.dm("zoe", "hi") and desk.say("carol", desk.chat.dm_room("carol"), "hello?")
    assert pointer == [] or "Please write there" in pointer[-1]
    assert desk.wf.repo.conversation_count("carol") == 1


def test_fixed_department_goes_straight_through(store_url: str) -> None:
    d = Desk(store_url, {"intake": {"dm": {"department": "support"}}})
    conv, told = d.ask("carol")
    assert conv.department == "support"
    assert "All our agents are busy right now. You are number 1 in the queue." in told


def test_take_invites_and_notes_joined(desk: Desk) -> None:
    desk.available("alice")
    conv, _ = desk.ask("carol")
    notes = [t for t in desk.dms_to("alice") if t.startswith("New chat")]
    assert notes == [
        f"New chat #{conv.number} from @carol (Carol Contact) in support: my printer is on fire"
    ]
    post = [e for e in desk.chat.effects if e.kind == "post"][-1]
    assert post.data["attachments"][0].actions[0].msg == f"/take {conv.number}"
    assert desk.dm("bob", f"/take {conv.number}") == (
        "You are not available for chats: set /status available first."
    )
    answer = desk.dm("alice", f"/take {conv.number}")
    assert answer.startswith(f"You took #{conv.number} from @carol")
    assert desk.chat.sent(conv.rid) == [
        f"Conversation #{conv.number}. You wrote:\n> my printer is on fire",
        "alice is now helping you.",  # the catalogue's agent_joined (the fake has no names)
    ]
    assert desk.notes(conv.number) == ["@alice joined. You took it."]
    assert any(e.kind == "invite" and e.data["user_id"] == "u-alice" for e in desk.chat.effects)
    desk.available("bob")
    assert desk.dm("bob", f"/take {conv.number}") == (
        f"Conversation #{conv.number} was already taken by @alice."
    )


def test_department_isolation(desk: Desk) -> None:
    desk.available("alice", "carl")
    conv, _ = desk.ask("carol", dept="sales")
    assert not [t for t in desk.dms_to("alice") if t.startswith("New chat")]
    assert [t for t in desk.dms_to("carl") if t.startswith("New chat")]
    assert desk.dm("alice", "/queue") == "No chats are waiting."
    n = conv.number
    assert desk.dm("alice", f"/preview {n}") == f"There is no conversation #{n} in your queue."
    assert desk.dm("alice", f"/take {n}") == f"There is no conversation #{n} in your queue."
    assert desk.dm("alice", "/queue all").startswith("Only managers")
    assert f"#{n} @carol" in desk.dm("maria", "/queue all")
    assert f"#{n} @carol" in desk.dm("carl", "/queue")


def test_commands_in_the_customer_room_run_deleted_and_answered_in_the_console(desk: Desk) -> None:
    desk.available("alice")
    conv, _ = desk.ask("carol")
    n = conv.number
    desk.dm("alice", f"/take {n}")
    answer = desk.cmd("alice", n, "/info")  # typed where carol reads
    assert answer.startswith(f"Conversation #{n}")
    deleted = [e for e in desk.chat.effects if e.kind == "delete"]
    assert deleted and deleted[-1].rid == conv.rid  # the command line is taken out of the room
    # in the console thread, no #N: the thread names the conversation
    thread = desk.wf.console.repo.get(n, "alice")
    desk.clock.tick()
    typed = desk.chat.say("alice", thread.dm_rid, "/info", ts=desk.clock.now)
    desk.app.process(dataclasses.replace(typed, tmid=thread.root_id))
    assert desk.notes(n, "alice")[-1].startswith(f"Conversation #{n}")


def test_commands_in_the_customer_room_may_be_refused(store_url: str) -> None:
    d = Desk(store_url, {"commands": {"rate_limit": {"count": 0}, "in_customer_rooms": "refuse"}})
    d.available("alice")
    conv, _ = d.ask("carol")
    n = conv.number
    d.dm("alice", f"/take {n}")
    d.in_room("alice", n, "Let me check")
    refusal = d.cmd("alice", n, "/hold")
    assert "commands.in_customer_rooms: refuse" in refusal
    assert d.conv(n).state is State.SERVING  # not carried out
    assert not any("refuse" in t for t in d.chat.sent(conv.rid))


def test_hold_resume_and_auto_resume(desk: Desk) -> None:
    desk.available("alice")
    conv, _ = desk.ask("carol")
    n = conv.number
    desk.dm("alice", f"/take {n}")
    assert desk.cmd("alice", n, "/hold") == (
        "You can place a chat on hold only after you've replied to the contact."
    )
    desk.in_room("alice", n, "Let me check that for you")
    assert desk.cmd("alice", n, "/hold").startswith(f"#{n} is on hold.")
    assert desk.conv(n).state is State.ON_HOLD
    assert desk.cmd("alice", n, "/resume") == f"#{n} is resumed."
    desk.in_room("alice", n, "one more thing")
    desk.cmd("alice", n, "/hold")
    out = desk.in_room("carol", n, "any news?")
    assert out == []  # the contact reads the room: the note is the agent's, in the console
    assert desk.notes(n, "alice")[-1] == "Resumed automatically: @carol wrote: > any news?"
    assert desk.conv(n).state is State.SERVING and desk.conv(n).agent == "alice"


def test_close_archives_and_fires_the_hook(desk: Desk) -> None:
    closed = []
    desk.wf.transitions.on_closed(lambda conv, by: closed.append((conv.number, by)))
    desk.available("alice")
    conv, _ = desk.ask("carol")
    n = conv.number
    desk.dm("alice", f"/take {n}")
    assert desk.cmd("alice", n, "/close") == (
        "Please add a comment to close the conversation, e.g. /close solved by reset."
    )
    assert desk.cmd("alice", n, '/close "reset the password" tags=account,billing +pdf') == (
        f"#{n} is closed. I'll send a PDF transcript."
    )
    after = desk.conv(n)
    assert after.state is State.CLOSED and after.tags == ("account", "billing")
    assert after.transcript_pdf
    assert closed == [(n, "alice")]
    assert any(e.kind == "archive" and e.rid == conv.rid for e in desk.chat.effects)
    event = next(e for e in desk.store.events(n) if e.kind == "closed")
    assert event.data["service_seconds"] is not None
    # a returning contact starts a new conversation, routed to the last agent first
    conv2, told = desk.ask("carol", "it broke again")
    assert conv2.number != n and conv2.agent == "alice"
    assert "@alice is there to help you" in told


def test_a_replayed_take_takes_the_same_chat_not_the_next(desk: Desk) -> None:
    """`/take` with no number is replayed after a kill between the take and the processed
    mark: under the same event (effect scope) it finds the chat it took, never a second one."""
    desk.available("alice")
    first_conv, _ = desk.ask("carol")
    second_conv, _ = desk.ask("zoe")
    assert first_conv.state is State.QUEUED and second_conv.state is State.QUEUED
    alice = desk.chat.users["alice"]
    with effect_scope(message_key("TAKE1", "0")):
        took = desk.wf.conversations.take_next(alice)
    with effect_scope(message_key("TAKE1", "0")):  # the replay
        again = desk.wf.conversations.take_next(alice)
    assert again.number == took.number == first_conv.number
    assert desk.conv(second_conv.number).state is State.QUEUED
    with effect_scope(message_key("TAKE2", "0")):  # a new /take takes the next
        assert desk.wf.conversations.take_next(alice).number == second_conv.number


def test_take_race_one_winner_per_round(store_url: str) -> None:
    agents = [f"a{i}" for i in range(20)]
    d = Desk(store_url, {"departments": {"support": {"agents": agents}}})
    for a in agents:
        d.chat.add_user(a, "user", "livechat-agent")
        d.wf.presence.set_status(d.chat.users[a], "available")
    contacts = [f"c{i}" for i in range(50)]
    for c in contacts:
        d.chat.add_user(c, "user")
    for c in contacts:
        conv, _ = d.ask(c, "I need assistance")
        n = conv.number
        results: dict[str, str] = {}
        barrier = threading.Barrier(len(agents))

        def attempt(a: str, n: int = n, results=results, barrier=barrier) -> None:
            barrier.wait()
            try:
                d.wf.conversations.take(d.chat.users[a], n)
                results[a] = "won"
            except Exception as exc:  # Refused
                results[a] = str(exc)

        threads = [threading.Thread(target=attempt, args=(a,)) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [a for a, r in results.items() if r == "won"]
        assert len(winners) == 1, results
        lost = {r for a, r in results.items() if r != "won"}
        assert lost == {f"Conversation #{n} was already taken by @{winners[0]}."}
        assert d.conv(n).agent == winners[0]
        d.wf.conversations.close(d.chat.users[winners[0]], n, "done")
    d.app.stop(5)


# --- routing details, intake options, hooks ----------------------------------------------------
def test_fallback_department_when_nobody_is_online(store_url: str) -> None:
    d = Desk(
        store_url,
        {
            "departments": {
                "sales": {"agents": ["carl"], "routing": "auto", "fallback": "support"},
                "support": {"agents": ["alice"], "routing": "auto"},
            },
            "intake": {"dm": {"department": "sales"}},
        },
    )
    d.available("alice")
    conv, told = d.ask("carol")
    assert (conv.department, conv.agent) == ("support", "alice")
    assert "@alice is there to help you." in told
    assert "Nobody is available in sales; moved to support." in d.notes(conv.number, "alice")
    assert "Nobody is available" not in " ".join(d.chat.sent(conv.rid))


def test_hidden_when_offline_and_answer_by_name(store_url: str) -> None:
    d = Desk(
        store_url,
        {
            "departments": {
                "support": {"agents": ["alice"]},
                "sales": {"agents": ["carl"], "hide_when_offline": True},
                "billing": {"agents": ["bob"]},
            }
        },
    )
    question = d.dm("carol", "Hi there")
    assert "sales" not in question and "1. support" in question and "2. billing" in question
    d.dm("carol", "Billing")
    assert d.wf.repo.open_for_contact("carol").department == "billing"
    d.available("carl")
    assert "sales" in d.dm("zoe", "Hello")


def test_transition_hook_sees_every_transition(desk: Desk) -> None:
    seen: list[tuple[str | None, str]] = []
    desk.wf.transitions.on_transition(
        lambda before, t: seen.append((t.event.from_state, t.event.kind))
    )
    desk.available("alice")
    conv, _ = desk.ask("carol")
    n = conv.number
    desk.dm("alice", f"/take {n}")
    desk.in_room("alice", n, "hello")
    desk.cmd("alice", n, "/hold")
    desk.in_room("carol", n, "hi again")
    desk.cmd("alice", n, "/requeue")
    desk.dm("alice", f"/take {n}")
    desk.dm("alice", f"/close #{n} done")
    assert [k for _, k in seen] == ["taken", "held", "resumed", "requeued", "taken", "closed"]


def test_auto_resume_goes_elsewhere_when_the_agent_is_gone(store_url: str) -> None:
    d = Desk(
        store_url, {"departments": {"support": {"agents": ["alice", "bob"], "routing": "auto"}}}
    )
    d.available("alice")
    conv, _ = d.ask("carol")
    n = conv.number
    assert conv.agent == "alice"
    d.in_room("alice", n, "checking")
    d.cmd("alice", n, "/hold")
    d.dm("alice", "/status off")
    d.available("bob")
    out = d.in_room("carol", n, "hello?")
    assert out == ["bob is now helping you."]  # the catalogue's agent_joined, for the contact
    note = "Resumed automatically: @carol wrote; @alice is not available, so @bob takes over."
    assert d.notes(n, "alice")[-1] == note
    assert note in d.notes(n, "bob")
    assert d.conv(n).agent == "bob"
    kicked = [e for e in d.chat.effects if e.kind == "kick" and e.rid == conv.rid]
    assert kicked and kicked[-1].data["user_id"] == "u-alice"


def test_dm_pointer_is_throttled_and_agents_get_a_hint(desk: Desk) -> None:
    conv, _ = desk.ask("carol")
    rid = desk.chat.dm_room("carol")
    first = desk.say("carol", rid, "hello?")
    assert first == [
        f"Your conversation #{conv.number} is open in omni-1-carol "
        "(http://127.0.0.1:9/group/omni-1-carol). Please write there."
    ]
    assert desk.say("carol", rid, "anyone?") == []
    assert desk.dm("alice", "good morning") == (
        "Hi! You are staff here: type /help to see your commands."
    )
    assert (
        desk.dm("maria", "hello bot") == "Hi! You are staff here: type /help to see your commands."
    )
    assert desk.wf.repo.open_for_contact("maria") is None
    desk.chat.add_user("rocket.cat", "bot")
    assert desk.say("rocket.cat", desk.chat.dm_room("rocket.cat"), "ping") == []


def test_room_creation_failure_closes_the_conversation(desk: Desk) -> None:
    from bot.chat.errors import ServerError

    def broken(*args, **kwargs):
        raise ServerError("boom")

    desk.chat.create_group = broken
    desk.dm("carol", "hello")
    out = desk.dm("carol", "1")
    assert out.startswith("Sorry, I could not open a conversation for you right now.")
    assert desk.wf.repo.open_for_contact("carol") is None


def test_restart_keeps_routing_state(desk: Desk) -> None:
    desk.available("alice")
    conv, _ = desk.ask("carol")
    desk.dm("alice", f"/take {conv.number}")
    desk.restart()
    assert desk.wf.roster.open_total["alice"] == 1
    assert desk.wf.roster.agents["alice"].availability.value == "available"
    assert desk.cmd("alice", conv.number, "/close finished").startswith(f"#{conv.number} is closed")


def test_close_refusal_names_the_configured_prefix(store_url: str) -> None:
    d = Desk(store_url, {"commands": {"rate_limit": {"count": 0}, "prefixes": ["!"]}})
    try:
        assert "now available" in d.dm("alice", "!status available")
        conv, _ = d.ask("carol")
        d.dm("alice", f"!take {conv.number}")
        assert d.cmd("alice", conv.number, "!close") == (
            "Please add a comment to close the conversation, e.g. !close solved by reset."
        )
    finally:
        d.app.stop(5)
        d.store.close()


class SlowNoteChat(FakeChat):
    """A FakeChat whose "Returned to the queue" note hangs until released, as a rate-limited
    server would keep it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def send(self, rid: str, text: str, *, tmid: str | None = None):
        if text.startswith("Returned to the queue"):
            self.entered.set()
            assert self.release.wait(10)
        return super().send(rid, text, tmid=tmid)


def test_a_rooms_notes_follow_the_order_of_its_transitions(store_url: str) -> None:
    """Alice hands #N back from her DM while the server holds her note; the manager closes #N
    from his. The room still reads "returned", then "closed": the close waits for the note of
    the transition before it, however long that takes."""
    d = Desk(store_url, chat=SlowNoteChat())
    d.available("alice")
    conv, _ = d.ask("carol")
    n = conv.number
    d.dm("alice", f"/take {n}")
    users = d.chat.users
    requeue = threading.Thread(target=d.wf.transfers.requeue, args=(users["alice"], n))
    requeue.start()
    assert d.chat.entered.wait(10)
    assert d.conv(n).state is State.QUEUED  # committed; its note is still on its way
    closed: list[Any] = []
    close = threading.Thread(
        target=lambda: closed.append(d.wf.conversations.close(users["maria"], n, "duplicate"))
    )
    close.start()
    close.join(0.3)  # given every chance to overtake
    d.chat.release.set()
    requeue.join(10)
    close.join(10)
    assert closed and closed[0].state is State.CLOSED
    notes = [t for t in d.notes(n) if t.startswith(("Returned", "Closed"))]
    assert notes == ["Returned to the queue by @alice.", "Closed by @maria: duplicate"]
    assert d.wf.transitions.held_locks == 0  # nobody holds or waits: nothing kept
    d.app.stop(5)
    d.store.close()
