"""`{{contact.name}}`-style placeholders in canned responses (rules §9).

Inside a conversation every known placeholder is replaced (a missing value becomes empty, as in
Rocket.Chat). Outside conversations only the agent's own ones are: the others are left as typed,
because there is no contact to fill them from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDERS = (
    "contact.name",
    "contact.email",
    "contact.phone",
    "agent.name",
    "agent.email",
    "department",
    "conversation.number",
)
_TOKEN = re.compile(r"\{\{\s*([A-Za-z_.]+)\s*\}\}")


_ANY_TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def unknown(text: str) -> list[str]:
    """The `{{…}}` in `text` that name no placeholder (they would reach the customer as typed)."""
    return [m.group(0) for m in _ANY_TOKEN.finditer(text) if m.group(1).lower() not in PLACEHOLDERS]


def fill(text: str, values: Mapping[str, str | None]) -> str:
    """Replace the placeholders named in `values`; leave every other `{{…}}` untouched."""

    def sub(match: re.Match[str]) -> str:
        key = match.group(1).lower()
        if key not in values:
            return match.group(0)
        return values[key] or ""

    return _TOKEN.sub(sub, text)


def values_for(agent: Any, conversation: Any = None, contact: Any = None) -> dict[str, str | None]:
    """The placeholder values: the agent's always; the rest only with a conversation."""
    values: dict[str, str | None] = {
        "agent.name": getattr(agent, "name", None) or getattr(agent, "username", None),
        "agent.email": getattr(agent, "email", None),
    }
    if conversation is not None:
        values.update(
            {
                "contact.name": (getattr(contact, "name", None) if contact else None)
                or conversation.contact_name
                or conversation.contact_username,
                "contact.email": getattr(contact, "email", None) if contact else None,
                "contact.phone": getattr(contact, "phone", None) if contact else None,
                "department": conversation.department or "",
                "conversation.number": str(conversation.number),
            }
        )
    return values
