"""The department choice dialogue of the `dm` intake: several departments offered, the bot asks
(numbered list; the answer may be the number or the name) and remembers the first message until
the answer comes, in the store, so a restart in between loses nothing."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.chat.types import Message, UserRef
from bot.services.intake.dm_state import IntakeState

_CHOICE_KEY = "intake-choice:"


class DepartmentChoice(IntakeState):
    def offered(self) -> list[str]:
        services = self.services
        out = []
        for name, dept in services.config.departments.items():
            if not dept.offer_to_contacts:
                continue
            if dept.hide_when_offline and not services.router.has_online_agent(name):
                continue
            out.append(name)
        return out

    @staticmethod
    def _question(offered: list[str]) -> str:
        lines = ["Hello! Which team can help you? Reply with a number or a name:"]
        lines += [f"{i}. {name}" for i, name in enumerate(offered, 1)]
        return "\n".join(lines)

    def _answer(self, message: Message, pending: dict[str, Any]) -> None:
        offered: list[str] = pending["offered"]
        word = message.text.strip().lstrip("#").strip().rstrip(".").casefold()
        choice = None
        if word.isdigit() and 1 <= int(word) <= len(offered):
            choice = offered[int(word) - 1]
        else:
            choice = next((d for d in offered if d.casefold() == word), None)
        if choice is None:
            options = "\n".join(f"{i}. {name}" for i, name in enumerate(offered, 1))
            self.services.directory.chat.send(
                message.rid,
                f"Sorry, I didn't get that. Please reply with one of these numbers or names:\n"
                f"{options}",
            )
            return
        self.services.store.kv_set(_CHOICE_KEY + message.author.username, None)
        first = _message_from(pending["message"])
        self.start(first, choice, source="dm", answer_rid=message.rid)

    def _remember(self, username: str, message: Message, offered: list[str]) -> None:
        self.services.store.kv_set(
            _CHOICE_KEY + username,
            json.dumps({"offered": offered, "message": _message_to(message)}),
        )

    def _pending(self, username: str) -> dict[str, Any] | None:
        raw = self.services.store.kv_get(_CHOICE_KEY + username)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None


def _message_to(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "rid": message.rid,
        "text": message.text,
        "ts": message.ts.isoformat(),
        "author": [message.author.id, message.author.username, message.author.name],
    }


def _message_from(data: dict[str, Any]) -> Message:
    uid, username, name = data["author"]
    return Message(
        id=data["id"],
        rid=data["rid"],
        text=data["text"],
        ts=datetime.fromisoformat(data["ts"]),
        author=UserRef(uid, username, name),
    )
