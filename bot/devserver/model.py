"""The dev server's small shared vocabulary: ids, wire forms, Meteor errors, the user record."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import dates

_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
STATUS_CODES = {"offline": 0, "online": 1, "away": 2, "busy": 3}
# Roles that carry `message-impersonate` (alias/avatar) and `send-many-messages` in RC defaults.
IMPERSONATE_ROLES = {"bot", "app", "admin"}
BYPASS_ROLES = {"admin", "bot", "app"}
MAX_MESSAGE_SIZE = 5000  # RC setting Message_MaxAllowedSize


def random_id(length: int = 17) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def wire(obj: Any, mode: str) -> Any:
    """Deep copy with dates as ISO strings (`mode="rest"`) or `{$date}` (`mode="ddp"`)."""
    if isinstance(obj, datetime):
        return dates.to_iso(obj) if mode == "rest" else dates.to_wire_date(obj)
    if isinstance(obj, dict):
        return {k: wire(v, mode) for k, v in obj.items() if not k.startswith("__")}
    if isinstance(obj, list | tuple):
        return [wire(v, mode) for v in obj]
    return obj


class MeteorError(Exception):
    """A Meteor.Error: REST turns it into a 400 `[code]` body, DDP into an error object."""

    def __init__(self, error: str | int, reason: str, details: dict | None = None):
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.details = details

    @property
    def message(self) -> str:
        """Meteor's `<reason> [<error>]`, or `[<error>]` for an error thrown without a reason."""
        return f"{self.reason} [{self.error}]" if self.reason else f"[{self.error}]"

    def ddp(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "isClientSafe": True,
            "error": self.error,
            "reason": self.reason,
            "message": self.message,
            "errorType": "Meteor.Error",
        }
        if self.details is not None:
            body["details"] = self.details
        return body


@dataclass
class User:
    id: str
    username: str
    name: str
    email: str
    password: str
    roles: list[str]
    utc_offset: float = 0
    status: str = "offline"
    status_default: str = "online"
    status_text: str = ""
    active: bool = True
    created_at: datetime = field(default_factory=lambda: dates.now())
    # token -> {"when", "type": "resume"|"personalAccessToken", "name"}
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: int = 0
    # Omnichannel service status (`statusLivechat`), apart from presence: "available" or
    # "not-available"; only meaningful with the livechat-agent role.
    status_livechat: str = "not-available"

    @property
    def ref(self) -> dict[str, str]:
        return {"_id": self.id, "username": self.username, "name": self.name}

    def has_any(self, roles: Iterable[str]) -> bool:
        return bool(set(self.roles) & set(roles))

    def doc(self, *, me: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "_id": self.id,
            "username": self.username,
            "name": self.name,
            "type": "bot" if "bot" in self.roles else "user",
            "status": self.status,
            "statusText": self.status_text,
            "active": self.active,
            "roles": list(self.roles),
            "utcOffset": self.utc_offset,
            "emails": [{"address": self.email, "verified": True}] if self.email else [],
            "createdAt": self.created_at,
            "_updatedAt": self.created_at,
        }
        if "livechat-agent" in self.roles:
            d["statusLivechat"] = self.status_livechat
        if me:
            d["statusConnection"] = "online" if self.connections else "offline"
            d["statusDefault"] = self.status_default
            d["settings"] = {"preferences": {}}
            d["avatarUrl"] = f"/avatar/{self.username}"
            if self.email:
                d["email"] = self.email
        return d
