"""Timers end to end: the dev server, the real bot with its running scheduler, real seconds.

Durations are a couple of seconds so the scheduler rings by itself (the controllable-clock tests
are in `test_timers_workflow.py`). Department layout as in the seed: bob in support.
"""

from __future__ import annotations

import time
from typing import Any

from chat import Chat, wait_until

from bot.domain import State

CONFIG = {
    "departments": {"support": {"agents": ["bob", "erin"]}},
    "intake": {"dm": {"department": "support"}},
    "commands": {"rate_limit": {"count": 0}},
}


def hold(chat: Chat, room: Any, n: int) -> None:
    got = room.exchange("/hold", 2)  # the note and the answer, in the agent's console
    assert got[-1].startswith(f"#{n} is on hold"), got


def served(chat: Chat, contact: str = "carol") -> tuple[int, Any]:
    bob = chat.user("bob")
    assert bob.dm_bot("/status available") == "You are now available for chats."
    told = chat.user(contact).dm_bot("my router blinks red")
    assert "Your conversation #" in told, told
    wf = chat.bot.services
    conv = wait_until(lambda: wf.repo.open_for_contact(contact), what="the conversation")
    assert bob.dm_bot(f"/take {conv.number}").startswith(f"You took #{conv.number}")
    room = bob.in_room(conv.rid)
    room.say("Hi Carol, let me check")
    wait_until(
        lambda: wf.repo.get(conv.number).metrics.last_agent_reply_at, what="bob's reply noted"
    )
    return conv.number, room


def test_hold_auto_close_rings_by_itself(make_chat: Any) -> None:
    chat = make_chat(config={**CONFIG, "timers": {"on_hold_auto_close": "4s"}})
    n, room = served(chat)
    hold(chat, room, n)
    armed = room.command("/timers")
    assert armed.startswith(f"Timers for #{n} (on_hold):") and "on_hold_auto_close" in armed
    repo = chat.bot.services.repo
    wait_until(lambda: repo.get(n).state is State.CLOSED, 15, "the automatic close")
    wait_until(
        lambda: any(
            "Closed by @omnicat: Closed automatically after being on hold." in t
            for t in chat.console("bob", n)
        ),
        what="the closing note in bob's console",
    )
    assert not any("Closed by" in t for t in chat.bot_messages(room.rid))
    assert repo.get(n).closer == "bot"


def test_alarm_missed_while_the_bot_was_down_fires_once_after_restart(make_chat: Any) -> None:
    chat = make_chat(config={**CONFIG, "timers": {"on_hold_auto_close": "3s"}})
    n, room = served(chat)
    hold(chat, room, n)
    chat.stop_bot()
    time.sleep(3.5)  # the alarm time passes while nobody is running
    chat.start_bot()
    repo = chat.bot.services.repo
    wait_until(lambda: repo.get(n).state is State.CLOSED, 15, "the close after restart")
    # the note is posted after the close commits, on the timer's thread: wait for it, then
    # make sure nothing else is still on its way before counting
    wait_until(
        lambda: any(t.startswith("Closed by @omnicat") for t in chat.console("bob", n)),
        what="the closing note after restart (bob's console)",
    )
    chat.idle()
    closes = [e for e in chat.store.events(n) if e.kind == "closed"]
    assert len(closes) == 1
    notes = [t for t in chat.console("bob", n) if t.startswith("Closed by @omnicat")]
    assert len(notes) == 1
