"""Livechat records: the visitor, and the error RC's livechat code throws by key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import dates


class LivechatError(Exception):
    """A plain `throw new Error('<key>')` in RC's livechat code: 400 `{error: key}`."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


@dataclass
class Visitor:
    """A livechat visitor (RC `ILivechatVisitor`); writes messages like a user, has no account."""

    id: str
    token: str
    username: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    department: str | None = None
    status: str = "online"
    ts: datetime = field(default_factory=lambda: dates.now())
    updated: datetime = field(default_factory=lambda: dates.now())
    custom: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> dict[str, str]:
        ref = {"_id": self.id, "username": self.username}
        if self.name:
            ref["name"] = self.name
        return ref

    @property
    def roles(self) -> list[str]:
        return []

    def v(self) -> dict[str, Any]:
        """The `v` a room and a subscription carry."""
        v: dict[str, Any] = {
            "_id": self.id,
            "username": self.username,
            "token": self.token,
            "status": self.status,
        }
        if self.phone:
            v["phone"] = self.phone
        return v

    def doc(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "_id": self.id,
            "username": self.username,
            "token": self.token,
            "status": self.status,
            "ts": self.ts,
            "_updatedAt": self.updated,
        }
        if self.name:
            d["name"] = self.name
        if self.email:
            d["visitorEmails"] = [{"address": self.email}]
        if self.phone:
            d["phone"] = [{"phoneNumber": self.phone}]
        if self.department:
            d["department"] = self.department
        if self.custom:
            d["livechatData"] = dict(self.custom)
        return d
