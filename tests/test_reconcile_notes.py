"""The reconciler knows the room's notes by the kind the workflow stored them with: the bot's
plain replies in a conversation room (`/info` output "Conversation #12 — …", refusals
"Conversation #12 is already on hold.") read like notes but are none, so after a crash they
must not make it post a "repair" note."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chat import Chat

from bot.domain import State
from bot.services import notify
from bot.services.reconcile import note_state

CONFIG = {
    "departments": {"support": {"agents": ["bob"]}},
    "intake": {"dm": {"department": "support"}},
    "commands": {"rate_limit": {"count": 0}},
}


def served(chat: Chat) -> Any:
    bob = chat.user("bob")
    assert bob.dm_bot("/status on") == "You are now available for chats."
    assert "Your conversation #" in chat.user("carol").dm_bot("My modem is sad")
    conv = chat.bot.services.repo.open_for_contact("carol")
    assert bob.dm_bot(f"/take {conv.number}").startswith(f"You took #{conv.number}")
    chat.idle()
    return chat.bot.services.repo.get(conv.number)


def test_replies_after_the_last_note_do_not_make_the_reconciler_act(make_chat: Any) -> None:
    chat = make_chat(config=CONFIG)
    conv = served(chat)
    room = chat.user("bob").in_room(conv.rid)
    reconciler = chat.bot.services.reconciler

    room.say("Hello, let me look")
    info = room.command("/info")
    assert info.startswith(f"Conversation #{conv.number}"), info
    chat.idle()
    assert reconciler.repair(conv.number) == []
    assert chat.console("bob", conv.number)[-1] == info  # answered in bob's console
    assert info not in chat.bot_messages(conv.rid)

    # two answers (the room's note, the reply to bob): both in before the next command
    placed = room.exchange("/hold", 2)
    assert placed[0] == "Placed on hold by @bob.", placed
    assert placed[1].startswith(f"#{conv.number} is on hold."), placed
    refusal = room.command("/hold")
    assert refusal == f"Conversation #{conv.number} is already on hold.", refusal
    chat.idle()
    assert chat.bot.services.repo.get(conv.number).state is State.ON_HOLD
    assert reconciler.repair(conv.number) == []
    assert chat.console("bob", conv.number)[-1] == refusal
    assert refusal not in chat.bot_messages(conv.rid)


def test_a_missing_note_is_still_found_behind_a_reply(make_chat: Any) -> None:
    chat = make_chat(config=CONFIG)
    conv = served(chat)
    room = chat.user("bob").in_room(conv.rid)
    # the hold commits but its note never reaches the room (as a kill -9 leaves it) ...
    chat.bot.services.repo.transition(
        conv.number, lambda c: c.hold("bob", datetime.now(UTC), agent_engagement_only=False)
    )
    # ... and a reply that reads like an old note comes after
    assert room.command("/info").startswith(f"Conversation #{conv.number}")
    chat.idle()
    done = chat.bot.services.reconciler.repair(conv.number)
    assert done == ["posted 'Placed on hold by @bob.'"], done


def test_the_state_comes_from_the_stored_kind() -> None:
    text = "Conversation #12 is already on hold."
    assert note_state(None, text) is None
    assert note_state(notify.INVITED, "@erin was invited by @bob.") is None
    assert note_state(notify.STARTED, "Conversation #12 with @carol in support.") == "queued"
    assert note_state(notify.CLOSED, "@carol left the chat without an answer.") == "closed"
    assert note_state(notify.RESUMED, "Resumed by @bob.") == "serving"
    back = "Resumed automatically: @carol wrote; @bob is not available, so it is back in the queue."
    assert note_state(notify.RESUMED, back) == "queued"
