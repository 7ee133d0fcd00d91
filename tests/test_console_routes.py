"""Agent-only texts about one conversation go into that conversation's console thread (issue 16,
DESIGN "The agent console"), never to the top level of the agent's DM with the bot: only queue
notices with their *Take it* button stay there. One test per route that used to DM.

The real dispatcher, workflow and store (SQLite and PostgreSQL) on the in-memory FakeChat.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from test_toolkit_desk import Desk as ToolkitDesk
from test_workflow_service import Desk

from bot.chat.effect_scope import effect_scope, next_message_id
from bot.chat.errors import RocketChatError
from bot.chat.types import Room

pytestmark = pytest.mark.both_stores

REFUSED = "the server refused the seat change"


@pytest.fixture
def desk(store_url: str) -> Any:
    d = Desk(store_url)
    yield d
    d.app.stop(5)
    d.store.close()


def top_level(desk: Desk, username: str) -> list[str]:
    """What the bot said at the top level of `username`'s DM with it (thread roots included:
    they name a conversation and hold nothing else)."""
    rid = desk.chat.dm_room(username)
    return [
        e.text or ""
        for e in desk.chat.effects
        if e.kind in ("send", "post", "dm") and e.rid == rid and not e.data.get("tmid")
    ]


def served(desk: Desk, contact: str = "carol", agent: str = "alice") -> int:
    desk.available(agent)
    conv, _ = desk.ask(contact)
    desk.dm(agent, f"/take {conv.number}")
    return conv.number


def only_in_thread(desk: Desk, number: int, agent: str, needle: str) -> str:
    """The one note holding `needle` in `agent`'s thread for #number; none at the top level."""
    notes = [t for t in desk.notes(number, agent) if needle in t]
    assert len(notes) == 1, desk.notes(number, agent)
    assert not [t for t in top_level(desk, agent) if needle in t], top_level(desk, agent)
    return notes[0]


def refuse_seats(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk.wf.effects, "seat_changes", lambda before, after: REFUSED)


# --- the actor's seat problems ------------------------------------------------------------------
def test_a_seat_problem_at_a_requeue_goes_to_the_actors_thread(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = served(desk)
    refuse_seats(desk, monkeypatch)
    desk.dm("alice", f"/requeue #{n} busy")
    only_in_thread(desk, n, "alice", REFUSED)


def test_a_seat_problem_at_a_forward_to_the_queue_goes_to_the_actors_thread(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = served(desk)
    refuse_seats(desk, monkeypatch)
    # carl, sales's agent, is not available: it waits in sales's queue
    assert desk.dm("maria", f"/forward #{n} sales nobody there yet").startswith("Forwarded")
    assert desk.conv(n).agent is None
    only_in_thread(desk, n, "maria", REFUSED)


def test_an_invitation_and_its_seat_problem_go_to_the_console_threads(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = served(desk)
    invitation = f"@alice invited you to conversation #{n} with @carol (Carol Contact)"
    desk.dm("alice", f"/invite #{n} @bob")
    assert only_in_thread(desk, n, "bob", invitation).startswith(invitation)
    refuse_seats(desk, monkeypatch)
    desk.dm("alice", f"/invite #{n} @dave")
    only_in_thread(desk, n, "alice", REFUSED)
    only_in_thread(desk, n, "dave", invitation)


# --- a livechat close Rocket.Chat refuses -------------------------------------------------------
def test_a_refused_livechat_close_is_told_in_the_closers_thread(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = served(desk)
    conv = dataclasses.replace(desk.conv(n), source="livechat")

    def refuse(rid: str, comment: str, tags: tuple[str, ...]) -> None:
        raise RocketChatError("no way", error="error-not-allowed")

    monkeypatch.setattr(
        desk.chat, "livechat_room", lambda rid: Room(id=rid, type="l", open=True), raising=False
    )
    monkeypatch.setattr(desk.chat, "livechat_close", refuse, raising=False)
    desk.wf.effects.rooms_for(conv).finish(conv, "alice")
    note = only_in_thread(desk, n, "alice", "is closed here, but")
    assert note.startswith(f"#{n} is closed here, but Rocket.Chat refused to close")


# --- a canned response refused in a customer room -----------------------------------------------
def test_a_refused_shortcut_in_the_customer_room_is_told_in_the_agents_thread(
    tmp_path: Path,
) -> None:
    canned = [{"shortcut": "greet", "text": "Hello {{contact.name}}!"}]
    desk = ToolkitDesk(tmp_path, {"canned": canned})
    try:
        conv = desk.serving("carol", "alice")
        assert desk.say("alice", conv.rid, "!gret") == []  # nothing in the contact's room
        answer = "There is no canned response !gret. Did you mean !greet?"
        only_in_thread(desk, conv.number, "alice", answer)  # type: ignore[arg-type]
    finally:
        desk.close()


# --- whose console thread a command in a conversation room opens --------------------------------
def test_a_non_staff_user_gets_no_console_thread_of_someone_elses_chat(desk: Desk) -> None:
    """A console thread's root names the contact and quotes their first line: for staff only.
    (Rocket.Chat would not let zoe post in carol's private room; the bot must not rely on it.)"""
    n = served(desk)
    root = desk.wf.console.root_text(desk.conv(n))
    desk.in_room("zoe", n, "/info")
    assert desk.wf.console.repo.get(n, "zoe") is None
    zoe = desk.dms_to("zoe")
    assert zoe, "zoe is answered, in her DM"
    assert root not in zoe and not any("my printer is on fire" in t for t in zoe)


# --- the rate limit's notice ---------------------------------------------------------------------
def test_a_rate_limit_notice_for_the_customer_room_goes_to_the_agents_dm(store_url: str) -> None:
    desk = Desk(store_url, {"commands": {"rate_limit": {"burst": 2, "per_second": 0.01}}})
    try:
        desk.available("alice")  # one token
        conv, _ = desk.ask("carol")
        n = conv.number
        desk.dm("alice", f"/take {n}")  # the second
        in_room = desk.in_room("alice", n, "/info")  # refused, typed where carol reads
        assert in_room == []
        assert desk.conv(n).state.value == "serving"
        (notice,) = [t for t in top_level(desk, "alice") if t.startswith("Too many commands")]
        assert "I did not run `/info`" in notice
        assert not any("Too many" in t for t in desk.chat.sent(conv.rid))
        # and the refused command is deleted from carol's room, as one that ran would be
        (typed,) = [m for m in desk.chat.messages[conv.rid] if m.text == "/info"]
        deleted = [(e.rid, e.data["msg_id"]) for e in desk.chat.effects if e.kind == "delete"]
        assert (conv.rid, typed.id) in deleted
    finally:
        desk.app.stop(5)
        desk.store.close()


def test_a_command_refused_in_the_agents_dm_or_by_the_contact_stays(store_url: str) -> None:
    """Only a customer room's refused command is deleted: one typed in the agent's DM with the
    bot stays (nobody else reads it), and so does the contact's own command in their room."""
    limits = {"commands": {"rate_limit": {"burst": 1, "per_second": 0.01}}}
    desk = Desk(store_url, limits)
    try:
        conv, _ = desk.ask("carol")
        desk.dm("alice", "/mine")  # alice's one token
        desk.dm("alice", "/mine")  # refused, in her DM
        assert [t for t in top_level(desk, "alice") if t.startswith("Too many commands")]
        desk.in_room("carol", conv.number, "/help")  # carol's one token
        desk.in_room("carol", conv.number, "/help")  # refused, the contact's own command
        assert [t for t in top_level(desk, "carol") if t.startswith("Too many commands")]
        assert desk.conv(conv.number).state.value == "queued"  # the refused /help did nothing
        assert [e for e in desk.chat.effects if e.kind == "delete"] == []
    finally:
        desk.app.stop(5)
        desk.store.close()


# --- a thread's root and the effect scope's ids ------------------------------------------------
def test_a_threads_root_leaves_the_events_ids_alone(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transport derives each message's id from its event's scope (`bot.chat.effect_scope`),
    so a replayed event sends the same ids and the server keeps one copy. The event that opens
    a console thread must not count its root among its own messages: replayed with the thread
    open, its note would take the root's id and the server would drop it as a copy."""
    n = served(desk)
    sent: list[tuple[str, str | None]] = []  # (kind, the id the real transport would use)
    for kind in ("post", "send"):
        real = getattr(desk.chat, kind)

        def recording(rid: str, text: str, _real: Any = real, _kind: str = kind, **kw: Any) -> Any:
            sent.append((_kind, next_message_id(rid)))
            return _real(rid, text, **kw)

        monkeypatch.setattr(desk.chat, kind, recording)
    conv = desk.conv(n)
    for _run in range(2):  # the event, then its replay (maria's thread open by then)
        with effect_scope("msg:replayed:1"):
            desk.wf.posting.tell_agents(conv, "a note for maria", to=["maria"], serving=False)
    roots = [mid for kind, mid in sent if kind == "post"]
    notes = [mid for kind, mid in sent if kind == "send"]
    assert len(roots) == 1 and len(notes) == 2
    assert notes[0] == notes[1] and roots[0] not in notes
    # (the FakeChat keeps both copies; Rocket.Chat keeps one message per id)
    assert desk.notes(n, "maria") == ["a note for maria"] * 2
