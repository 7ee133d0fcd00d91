"""Livechat intake end to end: a visitor on the dev server's visitor REST (no user account), the
real bot, agents typing over REST, the PDF read back with `pdftotext`.

Rocket.Chat side as the seed sets it up (README, "Livechat"): new livechat rooms go to the bot
agent `omnicat`, which is in both Rocket.Chat departments (`dep-support`: bob, erin; `dep-sales`:
alice) and holds `add-user-to-joined-room` and `transfer-livechat-guest`.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from chat import Chat, ChatUser, ChatVisitor, default_seed, wait_until
from test_e2e_transcripts import download, needs_poppler, pdftotext, wait_pdf

from bot.domain import State

CONFIG: dict[str, Any] = {
    "departments": {
        "support": {"agents": ["bob", "erin"], "closing_tags": ["hardware", "account"]},
        "sales": {"agents": ["alice"]},
    },
    "commands": {"rate_limit": {"count": 0}},
    # agents forward among themselves, as many teams configure it
    "permissions": {
        "overrides": {
            "transfer-livechat-guest": [
                "admin",
                "livechat-manager",
                "livechat-monitor",
                "livechat-agent",
            ]
        }
    },
    "intake": {
        "livechat": {
            "enabled": True,
            "departments": {"dep-support": "support", "dep-sales": "sales"},
        }
    },
}


def livechat_seed() -> dict[str, Any]:
    seed = default_seed()
    # erin (a harness extra) is a support agent in Rocket.Chat too
    for dept in seed.get("departments") or []:
        if dept.get("id") == "dep-support" and "erin" not in dept["agents"]:
            dept["agents"].append("erin")
    return seed


@pytest.fixture
def desk(make_chat: Any) -> Chat:
    # the seed grants the bot `view-livechat-rooms`: research §2, it gets back into a room it
    # forwarded to a human (`livechat/room.join`) only with it
    return ready_desk(make_chat(config=CONFIG, seed=livechat_seed()))


def ready_desk(chat: Chat) -> Chat:
    """The bot sets itself available on its connected hook, on its own thread: until it has,
    Rocket.Chat (and the dev server) answer a visitor `no-agent-online`."""
    wait_until(
        lambda: chat.server.livechat_status("omnicat") == "available", 10, "the bot available"
    )
    return chat


def available(*agents: ChatUser) -> None:
    """Available in Omnicat, and online in Rocket.Chat (as with the web client open: a
    livechat transfer goes only to a present agent)."""
    for agent in agents:
        agent.chat.server.set_presence(agent.username, "online")
        assert "available" in agent.dm_bot("/status available")


def conversation_of(chat: Chat, rid: str, timeout: float = 10.0) -> Any:
    assert chat.bot is not None
    wf = chat.bot.services
    conv = wait_until(
        lambda: wf.queue.by_room(rid), timeout, f"a conversation for livechat room {rid}"
    )
    chat.idle()
    return wf.repo.get(conv.number)


def state_of(chat: Chat, number: int) -> Any:
    assert chat.bot is not None
    return chat.bot.services.repo.get(number)


def members(chat: Chat, rid: str) -> set[str]:
    return {str((s.get("u") or {}).get("username")) for s in chat.server.subscriptions(rid)}


def dm_texts(chat: Chat, user: ChatUser) -> list[str]:
    return chat.bot_messages(user.bot_dm)


def closed_note_in_thread(chat: Chat, user: ChatUser, number: int, note: str) -> None:
    """`note` in `user`'s console thread for #number (issue 16), not at their DM's top level."""
    wait_until(lambda: note in chat.console(user.username, number), 10, f"{note!r} in the thread")
    top = [
        str(m.get("msg", ""))
        for m in chat.messages(user.bot_dm)
        if (m.get("u") or {}).get("username") == chat.bot_username and not m.get("tmid")
    ]
    assert note not in top, top


def wait_dm(chat: Chat, user: ChatUser, needle: str, timeout: float = 10.0) -> str:
    return wait_until(
        lambda: next((t for t in dm_texts(chat, user) if needle in t), None),
        timeout,
        f"{needle!r} in @{user.username}'s DM",
    )


def start(chat: Chat, text: str, department: str = "dep-support", **kw: Any) -> ChatVisitor:
    visitor = chat.visitor(department=department, **kw)
    visitor.open()
    visitor.say(text)
    return visitor


@needs_poppler
def test_a_visitor_is_served_forwarded_and_closed_with_a_pdf(desk: Chat, tmp_path: Any) -> None:
    bob, erin, alice = desk.user("bob"), desk.user("erin"), desk.user("alice")
    available(bob, erin, alice)
    vera = start(desk, "My router blinks red", email="vera@example.test")
    conv = conversation_of(desk, vera.rid)
    assert conv.source == "livechat" and conv.rid == vera.rid
    assert conv.contact_username == vera.username and conv.department == "support"
    assert conv.state is State.QUEUED
    contact = desk.bot.services.repo.contact(vera.username)
    assert contact.name == "Vera Visitor" and contact.email == "vera@example.test"
    source = desk.server.room(vera.rid)["source"]["type"]  # "api": no widget in between
    assert contact.custom_fields.get("livechat_source") == source
    # the department's agents get the queue notice (with the Take it button); sales does not
    n = conv.number
    assert "My router blinks red" in wait_dm(desk, bob, f"New chat #{n}")
    wait_dm(desk, erin, f"New chat #{n}")
    assert not any(f"#{n}" in t for t in dm_texts(desk, alice))
    assert "in the queue" in vera.wait_for("in the queue")

    assert f"#{n}" in bob.dm_bot(f"/take {n}")
    wait_until(lambda: "bob" in members(desk, vera.rid), 10, "bob in the livechat room")
    assert state_of(desk, n).agent == "bob"
    # Rocket.Chat names bob as the serving agent: servedBy, and the widget's header
    assert desk.server.room(vera.rid)["servedBy"]["username"] == "bob"
    assert vera.agent()["username"] == "bob" and vera.agent()["name"] == "Bob Agent"
    assert "omnicat" in members(desk, vera.rid)  # the bot rejoined: it still hears the room

    # the visitor's reply reaches the room bob is in; bob's reaches the visitor's widget
    vera.say("Still red after a minute")
    wait_until(
        lambda: any(m.get("msg") == "Still red after a minute" for m in desk.messages(vera.rid)),
        10,
        "the visitor's line in the room",
    )
    bob.say(vera.rid, "Please restart it and wait for the green light")
    vera.wait_for("Please restart it")
    desk.idle()

    # hold, and the visitor's next message resumes it
    assert "hold" in bob.in_room(vera.rid).command("/hold").lower()
    assert state_of(desk, n).state is State.ON_HOLD
    vera.say("It is green now!")
    wait_until(lambda: state_of(desk, n).state is State.SERVING, 10, "the automatic resume")
    assert state_of(desk, n).agent == "bob"
    desk.idle()  # the resume's DM to bob is out before his next command's answer is read

    # forward to erin: bob leaves the room, erin and the bot are in it
    assert "@erin" in bob.dm_bot(f"/forward #{n} @erin please check the line")
    wait_until(
        lambda: members(desk, vera.rid) == {"omnicat", "erin"},
        10,
        f"bob out, erin in (now: {members(desk, vera.rid)})",
    )
    assert state_of(desk, n).agent == "erin"
    assert desk.server.room(vera.rid)["servedBy"]["username"] == "erin"
    assert vera.agent()["username"] == "erin"
    erin.say(vera.rid, "Line checked, all good on our side")
    vera.wait_for("Line checked")

    # erin closes with comment and tags and asks for the PDF
    answer = erin.dm_bot(f'/close #{n} "fixed by a restart" tags=hardware +pdf')
    assert "closed" in answer
    room = wait_until(
        lambda: (lambda r: r if r and not r.get("open") else None)(desk.server.room(vera.rid)),
        10,
        "the livechat room closed in Rocket.Chat",
    )
    assert room.get("tags") == ["hardware"] or "hardware" in (room.get("tags") or [])
    wait_until(
        lambda: any(m.get("t") == "livechat-close" for m in vera.history()),
        10,
        "the end of the chat in the visitor's widget",
    )
    # the close comment Rocket.Chat stores for the visitor is the catalogue's; the agent's stays
    # in the store
    ends = [m for m in vera.history() if m.get("t") == "livechat-close"]
    assert ends[-1]["msg"] == f"Your conversation #{n} is closed. Write to me again any time."
    assert not any("fixed by a restart" in t for t in vera.texts())
    closed = state_of(desk, n)
    assert closed.state is State.CLOSED and closed.comment == "fixed by a restart"
    assert closed.tags == ("hardware",)
    text = pdftotext(download(erin, wait_pdf(desk, erin)), tmp_path)
    assert "My router blinks red" in text and "Still red after a minute" in text
    assert "Please restart it" in text and "Line checked" in text
    desk.idle()
    events = [e.kind for e in desk.bot.services.repo.events(n)]
    assert events.count("closed") == 1


def test_the_visitor_closes_from_the_widget(desk: Chat) -> None:
    bob = desk.user("bob")
    available(bob)
    vera = start(desk, "Quick question about my bill")
    conv = conversation_of(desk, vera.rid)
    bob.dm_bot(f"/take {conv.number}")
    wait_until(lambda: "bob" in members(desk, vera.rid), 10, "bob in the room")
    vera.close()
    wait_until(
        lambda: state_of(desk, conv.number).state is State.CLOSED, 10, "the close to be followed"
    )
    closed = state_of(desk, conv.number)
    assert closed.closer == "contact"
    closed_note_in_thread(desk, bob, conv.number, f"#{conv.number} was closed by the visitor.")
    desk.idle()
    assert [e.kind for e in desk.bot.services.repo.events(conv.number)].count("closed") == 1


def test_a_chat_waiting_through_a_restart_is_neither_lost_nor_doubled(desk: Chat) -> None:
    vera = start(desk, "Hello, anyone there?")
    conv = conversation_of(desk, vera.rid)
    desk.stop_bot()
    vera.say("I am still waiting")
    # a visitor who arrives while the bot is away is assigned to it all the same
    walt = start(desk, "Hi, new here", name="Walt Visitor")
    desk.start_bot()
    desk.idle()
    walt_conv = conversation_of(desk, walt.rid)
    desk.idle()
    wf = desk.bot.services
    assert wf.repo.conversation_count(vera.username) == 1
    assert wf.repo.conversation_count(walt.username) == 1
    assert walt_conv.state is State.QUEUED and walt_conv.source == "livechat"
    stored = [m.text for m in wf.messages.for_conversations([conv.number])]
    assert "I am still waiting" in stored
    # and it works as any queued chat after the restart
    bob = desk.user("bob")
    available(bob)
    bob.dm_bot(f"/take {conv.number}")
    wait_until(lambda: "bob" in members(desk, vera.rid), 10, "bob in the room")
    desk.restart_bot()
    desk.idle()
    assert wf is not desk.bot.services
    assert desk.bot.services.repo.conversation_count(vera.username) == 1
    assert desk.bot.services.repo.get(conv.number).agent == "bob"


def test_a_room_closed_while_the_bot_is_away_is_closed_once_with_its_hooks(desk: Chat) -> None:
    bob = desk.user("bob")
    available(bob)
    vera = start(desk, "Is my order shipped?")
    conv = conversation_of(desk, vera.rid)
    bob.dm_bot(f"/take {conv.number}")
    wait_until(lambda: "bob" in members(desk, vera.rid), 10, "bob in the room")
    bob.say(vera.rid, "Let me look it up")
    desk.idle()
    desk.stop_bot()
    vera.close()
    desk.start_bot()
    wait_until(
        lambda: state_of(desk, conv.number).state is State.CLOSED, 15, "the close while away"
    )
    desk.idle()
    closed_note_in_thread(desk, bob, conv.number, f"#{conv.number} was closed by the visitor.")
    desk.restart_bot()
    desk.idle()
    events = [e.kind for e in desk.bot.services.repo.events(conv.number)]
    assert events.count("closed") == 1
    assert state_of(desk, conv.number).closer == "contact"


def test_a_missing_grant_gives_the_agent_a_clear_reason(desk: Chat) -> None:
    # neither way in: no forward to the human (transfer-livechat-guest), no add as a member
    desk.server.revoke("transfer-livechat-guest", "bot")
    desk.server.revoke("add-user-to-joined-room", "bot")
    bob = desk.user("bob")
    available(bob)
    vera = start(desk, "Can someone help?")
    conv = conversation_of(desk, vera.rid)
    answer = bob.dm_bot(f"/take {conv.number}")
    assert "add-user-to-joined-room" in answer and "omnicat check-server" in answer
    assert state_of(desk, conv.number).state is State.QUEUED
    assert "bob" not in members(desk, vera.rid)


def test_department_isolation(desk: Chat) -> None:
    alice, bob = desk.user("alice"), desk.user("bob")
    available(alice, bob)
    sam = start(desk, "I want to buy 40 routers", department="dep-sales", name="Sam Buyer")
    conv = conversation_of(desk, sam.rid)
    assert conv.department == "sales"
    wait_dm(desk, alice, f"New chat #{conv.number}")
    assert "There is no conversation" in bob.dm_bot(f"/take {conv.number}")
    assert state_of(desk, conv.number).state is State.QUEUED
    assert "There is no conversation" in bob.dm_bot(f"/info #{conv.number}")
    assert f"#{conv.number}" in alice.dm_bot(f"/take {conv.number}")
    wait_until(lambda: "alice" in members(desk, sam.rid), 10, "alice in the room")
    assert "bob" not in members(desk, sam.rid)


def test_take_race_on_livechat_chats_has_one_winner(desk: Chat) -> None:
    bob, erin = desk.user("bob"), desk.user("erin")
    available(bob, erin)
    for round_ in range(3):
        visitor = start(desk, f"Race {round_}", name=f"Racer {round_}")
        conv = conversation_of(desk, visitor.rid)
        barrier = threading.Barrier(2)
        sent: dict[str, str] = {}
        threads = [
            threading.Thread(target=_take, args=(a, conv.number, barrier, sent))
            for a in (bob, erin)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        answers = {a.username: a.wait_reply(a.bot_dm, sent[a.username]) for a in (bob, erin)}
        winners = [u for u, text in answers.items() if text.startswith("You took")]
        assert len(winners) == 1, answers
        desk.idle()
        after = state_of(desk, conv.number)
        assert after.agent == winners[0]
        in_room = members(desk, visitor.rid)
        assert winners[0] in in_room and ({"bob", "erin"} - {winners[0]}).isdisjoint(in_room)


def _take(agent: ChatUser, number: int, barrier: threading.Barrier, sent: dict[str, str]) -> None:
    barrier.wait()
    sent[agent.username] = agent.say(agent.bot_dm, f"/take {number}").id
