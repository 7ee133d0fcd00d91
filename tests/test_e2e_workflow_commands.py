"""The omnichannel workflow end to end: the dev server, the real bot, people typing.

Department layout (as the seed's comments say): alice in sales, bob and erin in support;
maria is a livechat-manager; carol, dave and zoe are contacts.
"""

from __future__ import annotations

from typing import Any

import pytest
from chat import Chat, ChatUser, wait_until

CONFIG = {
    "departments": {
        "sales": {"agents": ["alice"]},
        "support": {"agents": ["bob", "erin"]},
    },
    "commands": {"rate_limit": {"count": 0}},
}


@pytest.fixture
def desk(make_chat: Any) -> Chat:
    return make_chat(config=CONFIG)


def open_conversation(chat: Chat, contact: str, dept: str, text: str = "I need help") -> Any:
    """`contact` asks in the DM and picks `dept`; returns the conversation from the store."""
    person = chat.user(contact)
    question = person.dm_bot(text)
    assert question.startswith("Hello! Which team can help you?"), question
    told = person.dm_bot(dept)
    assert "Your conversation #" in told, told
    wf = chat.bot.workflow
    return wait_until(lambda: wf.repo.open_for_contact(contact), what="the conversation")


def said(chat: Chat, room: Any, text: str, count: int = 2) -> list[str]:
    """Post `text` in `room`; the bot's next `count` messages there (a command in a
    conversation room gets the room's note and the reply)."""
    sent = room.say(text)
    return chat.wait_bot_messages(room.rid, count, after=sent.id)


def in_room(chat: Chat, user: ChatUser, number: int):
    rid = chat.bot.workflow.repo.get(number).rid
    return user.in_room(rid)


def test_contact_asks_agent_takes_holds_resumes_forwards_closes(desk: Chat) -> None:
    bob, erin, maria = desk.user("bob"), desk.user("erin"), desk.user("maria")
    carol = desk.user("carol")
    assert bob.dm_bot("/status available") == "You are now available for chats."
    conv = open_conversation(desk, "carol", "support", "My router blinks red")
    n = conv.number
    note = wait_until(
        lambda: [t for t in bob.replies(bob.bot_dm) if t.startswith("New chat")],
        what="bob's notification",
    )
    assert note == [f"New chat #{n} from @carol (Carol Contact) in support: My router blinks red"]
    button = [m for m in desk.messages(bob.bot_dm) if m.get("attachments")][-1]
    assert button["attachments"][0]["actions"][0]["msg"] == f"/take {n}"

    assert bob.dm_bot(f"/take {n}").startswith(f"You took #{n} from @carol")
    room = in_room(desk, bob, n)
    assert "@alice" not in desk.server.room_by_name(f"omni-{n}-carol").get("usernames", [])
    wait_until(lambda: "@bob joined" in room.replies(), what="the joined note")
    assert {u.username for u in desk.server.state.members(room.rid)} >= {"bob", "carol"}

    room.say("Hi Carol, let me look")
    assert said(desk, room, "/hold") == [
        "Placed on hold by @bob.",
        f"#{n} is on hold. I'll bring it back to you when the contact writes.",
    ]
    carol_room = in_room(desk, carol, n)
    sent = carol_room.say("still blinking")
    assert carol_room.user.wait_reply(room.rid, sent.id) == "Resumed automatically: @carol wrote."

    assert room.command("/forward @erin") == "You don't have permission to use /forward."
    assert erin.dm_bot("/status on") == "You are now available for chats."
    manager = in_room(desk, maria, n)
    assert desk.user("maria").dm_bot(f"/forward #{n} @erin line 2") == f"Forwarded #{n} to @erin."
    wait_until(lambda: desk.bot.workflow.repo.get(n).agent == "erin", what="erin serving")
    members = {u.username for u in desk.server.state.members(room.rid)}
    assert "erin" in members and "bob" not in members
    del manager

    erin_room = in_room(desk, erin, n)
    assert erin_room.command("/close") == (
        "Please add a comment to close the conversation, e.g. /close solved by reset."
    )
    assert said(desk, erin_room, '/close "replaced the router" tags=hardware') == [
        "Closed by @erin: replaced the router (tags: hardware)",
        f"#{n} is closed.",
    ]
    wait_until(lambda: desk.server.room_by_name(f"omni-{n}-carol").get("archived"), what="archive")
    assert desk.bot.workflow.repo.get(n).tags == ("hardware",)
