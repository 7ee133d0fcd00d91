"""The contact ends their own conversation: `/close [comment]` in its room or in the bot's DM
(`close.allow_contacts`, Rocket.Chat's Omnichannel_allow_visitors_to_close_conversation)."""

from __future__ import annotations

from typing import Any

import pytest
from chat import Chat, wait_until

from bot.domain import CONTACT, Conversation


def config(allow: bool = True) -> dict[str, Any]:
    return {
        "departments": {"support": {"agents": ["bob"]}},
        "commands": {"rate_limit": {"count": 0}},
        "close": {"require_comment": True, "allow_contacts": allow},
    }


@pytest.fixture
def desk(make_chat: Any) -> Chat:
    return make_chat(config=config())


def open_and_take(chat: Chat, contact: str = "carol", text: str = "My router blinks") -> int:
    bob = chat.user("bob")
    assert bob.dm_bot("/status available") == "You are now available for chats."
    assert "Your conversation #" in chat.user(contact).dm_bot(text)
    wf = chat.bot.services
    conv = wait_until(lambda: wf.repo.open_for_contact(contact), what="the conversation")
    assert bob.dm_bot(f"/take #{conv.number}").startswith(f"You took #{conv.number}")
    return conv.number


def closed(chat: Chat, n: int) -> Conversation:
    repo = chat.bot.services.repo
    return wait_until(
        lambda: (lambda c: c if c.state.value == "closed" else None)(repo.get(n)), what="closed"
    )


def test_the_contact_closes_in_the_room_with_a_comment(desk: Chat) -> None:
    n = open_and_take(desk)
    room = desk.user("carol").in_conversation(n)
    sent = room.say("/close all good now, thanks")
    replies = desk.wait_bot_messages(room.rid, 1, after=sent.id)
    assert replies == [f"#{n} is closed. Thank you for contacting us."]
    # the note is for the agents: in bob's console, not in the room carol reads
    wait_until(lambda: "Closed by @carol: all good now, thanks" in desk.console("bob", n))
    assert "Closed by @carol: all good now, thanks" not in desk.bot_messages(room.rid)
    conv = closed(desk, n)
    # no comment or tag rules for the contact, even with close.require_comment on
    assert (conv.closer, conv.closed_by, conv.comment) == (CONTACT, "carol", "all good now, thanks")
    # bob's slot is free again: he sees no open chat of his
    assert desk.bot.services.repo.open_for_contact("carol") is None


def test_the_contact_closes_in_the_room_without_a_comment(desk: Chat) -> None:
    """The note names the contact once: not "Closed by @carol: Closed by the contact"."""
    n = open_and_take(desk)
    room = desk.user("carol").in_conversation(n)
    sent = room.say("/close")
    replies = desk.wait_bot_messages(room.rid, 1, after=sent.id)
    assert replies == [f"#{n} is closed. Thank you for contacting us."]
    # the note is for the agents (issue 16): in bob's console, not in the room carol reads
    wait_until(lambda: "Closed by the contact (@carol)." in desk.console("bob", n))
    assert "Closed by the contact (@carol)." not in desk.bot_messages(room.rid)


def test_the_contact_closes_from_the_dm_without_a_comment(desk: Chat) -> None:
    n = open_and_take(desk)
    answer = desk.user("carol").dm_bot("/close")
    assert answer == f"Your conversation #{n} is closed. Write to me again any time."
    conv = closed(desk, n)
    assert (conv.closer, conv.comment) == (CONTACT, "Closed by the contact")


def test_a_contact_may_not_tag_or_ask_for_transcripts(desk: Chat) -> None:
    n = open_and_take(desk)
    room = desk.user("carol").in_conversation(n)
    answer = room.command("/close bye tags=vip")
    assert answer == "You can close with a comment only: /close [comment]."
    assert desk.bot.services.repo.get(n).state.value == "serving"


def test_an_unprefixed_close_in_the_dm_closes_nothing(desk: Chat) -> None:
    n = open_and_take(desk)
    carol = desk.user("carol")
    # a sentence starting with "close" is a message, not a command
    assert carol.dm_bot("close the ticket when you can").startswith(f"Your conversation #{n}")
    assert carol.dm_bot("close") == f"To close conversation #{n}, type /close."
    assert desk.bot.services.repo.get(n).state.value == "serving"


def test_a_first_message_starting_with_close_opens_a_conversation(desk: Chat) -> None:
    answer = desk.user("dave").dm_bot("close my account please")
    assert "Your conversation #" in answer
    conv = desk.bot.services.repo.open_for_contact("dave")
    assert conv is not None and conv.state.value == "queued"


def test_someone_elses_conversation_is_not_the_contacts_to_close(desk: Chat) -> None:
    n = open_and_take(desk)
    answer = desk.user("dave").dm_bot(f"/close #{n}")
    assert answer == "/close is a command for support agents."
    assert desk.bot.services.repo.get(n).state.value == "serving"


def test_switched_off_the_contact_gets_the_reason(make_chat: Any) -> None:
    desk = make_chat(config=config(allow=False))
    n = open_and_take(desk)
    room = desk.user("carol").in_conversation(n)
    assert room.command("/close") == (
        "Only the support team can close conversations here; tell them in the conversation "
        "when you're done."
    )
    assert desk.bot.services.repo.get(n).state.value == "serving"
    # agents still close as before
    bob_room = desk.user("bob").in_conversation(n)
    assert bob_room.exchange("/close fixed", 2)[-1] == f"#{n} is closed."  # in his console
