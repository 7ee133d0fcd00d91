"""Whether a conversation's opening completed (room, first line stored, routing due).

The opening used to be marked by the opening note in the customer room (stored as
`livechat-started`); that note told the visitor the agents' view of the case, so it is gone
(issue 16) and a store key marks the opening instead. A conversation opened before the upgrade
still counts by its stored note.
"""

from __future__ import annotations

from typing import Any

from bot.services import notify

_KEY = "opened:"


def opened(services: Any, number: int) -> bool:
    if services.store.kv_get(f"{_KEY}{number}"):
        return True
    stored = services.messages.for_conversations([number])
    return any(m.type == notify.STARTED for m in stored)


def mark_opened(services: Any, number: int) -> None:
    services.store.kv_set(f"{_KEY}{number}", "1")
