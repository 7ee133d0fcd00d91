"""A scripted day of chats end to end, for the supervisor's desk tests (issue 19:
`test_e2e_reports.py`, `test_e2e_sla_csat.py`): the dev server and the bot on one clock the test
moves, and the steps of the script (a contact opens a chat, an agent takes it, people say
things in its room, someone closes it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chat import Chat, default_seed, wait_until


def scripted_desk(
    make_chat: Any,
    monkeypatch: Any,
    *,
    config: Mapping[str, Any],
    seed_users: Sequence[Mapping[str, Any]] = (),
    seed_rooms: Sequence[Mapping[str, Any]] = (),
    seed: dict[str, Any] | None = None,
    fire_timers: bool = False,
) -> Any:
    """The chat, with `t0` (tomorrow 09:00 UTC) and `at(seconds)`, which moves the clock the dev
    server and the bot share to t0 + seconds (and with `fire_timers`, runs the timers due by
    then and returns what fired). The seed is `seed` (default: the default seed) plus
    `seed_users` and `seed_rooms`."""
    import bot.devserver.dates
    import bot.devserver.state
    import bot.runtime.root

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    t0 = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, tzinfo=UTC)
    clock = {"now": t0}

    def now() -> datetime:
        return clock["now"]

    seed = seed if seed is not None else default_seed()
    seed["users"] += seed_users
    seed["rooms"] += seed_rooms
    chat = make_chat(config=config, seed=seed, start=False)
    monkeypatch.setattr(bot.devserver.state, "now", now)
    monkeypatch.setattr(bot.devserver.dates, "now", now)
    monkeypatch.setattr(bot.runtime.root, "utc_now", now)
    chat.start_bot()

    def at(seconds: int) -> list[tuple[str, str, str]] | None:
        chat.idle()
        clock["now"] = t0 + timedelta(seconds=seconds)
        if not fire_timers:
            return None
        fired = chat.bot.timers.fire_due(now=clock["now"])
        chat.idle()
        return fired

    chat.t0 = t0
    chat.at = at
    return chat


def opens(chat: Chat, contact: str, department: str, text: str) -> int:
    """`contact` asks in the DM and picks `department` (same instant); the new number."""
    person = chat.user(contact)
    assert person.dm_bot(text).startswith("Hello! Which team can help you?")
    assert "Your conversation #" in person.dm_bot(department)
    wf = chat.bot.services
    return wait_until(lambda: wf.repo.open_for_contact(contact), what="the conversation").number


def room_of(chat: Chat, user: str, number: int) -> Any:
    return chat.user(user).in_room(chat.bot.services.repo.get(number).rid)


def takes(chat: Chat, agent: str, number: int) -> None:
    assert chat.user(agent).dm_bot(f"/take {number}").startswith(f"You took #{number}")


def says(chat: Chat, user: str, number: int, text: str) -> None:
    room_of(chat, user, number).say(text)
    chat.idle()


def closes(chat: Chat, user: str, number: int, line: str) -> None:
    view = room_of(chat, user, number)
    # an agent: the close note and the answer, in their console thread (issue 16: the contact
    # reads the room); the contact: the answer in the room, the note for the agents only
    view.exchange(line, 2 if view.answered_in_console() else 1)
    repo = chat.bot.services.repo
    wait_until(lambda: repo.get(number).state.value == "closed", what=f"#{number} closed")
