"""`ContactRepo`: the contacts the bot has talked to, and their fields."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.store.engine import insert_ignore
from bot.store.schema_conversations import contacts, conversations
from bot.store.store import Store


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Contact:
    username: str
    first_seen: datetime
    contact_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    last_agent: str | None = None


class ContactRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def touch(
        self,
        conn: sa.Connection,
        username: str,
        at: datetime,
        contact_id: str | None,
        name: str | None,
    ) -> None:
        row = conn.execute(sa.select(contacts.c.username).where(contacts.c.username == username))
        if row.first() is None:
            values = {
                "username": username,
                "contact_id": contact_id,
                "name": name,
                "first_seen": at,
                "updated_at": _now(),
            }
            insert_ignore(conn, contacts, values, ["username"])

    def contact(self, username: str) -> Contact | None:
        with self.store.reading() as conn:
            row = conn.execute(sa.select(contacts).where(contacts.c.username == username)).first()
        if row is None:
            return None
        r = row._mapping
        return Contact(
            username=r["username"],
            first_seen=r["first_seen"],
            contact_id=r["contact_id"],
            name=r["name"],
            email=r["email"],
            phone=r["phone"],
            custom_fields=json.loads(r["custom_fields"] or "{}"),
            last_agent=r["last_agent"],
        )

    def update_contact(
        self, username: str, *, at: datetime | None = None, **values: Any
    ) -> Contact:
        """Set contact fields (`name`, `email`, `phone`, `contact_id`, `custom_fields`
        (merged; a None value removes the field)); creates the contact when missing."""
        allowed = {"name", "email", "phone", "contact_id", "custom_fields"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown contact fields: {sorted(unknown)}")
        with self.store.transaction() as conn:
            self.touch(conn, username, at or _now(), values.get("contact_id"), None)
            if "custom_fields" in values:
                current = conn.execute(
                    sa.select(contacts.c.custom_fields).where(contacts.c.username == username)
                ).scalar_one()
                merged = json.loads(current or "{}")
                for key, value in (values.pop("custom_fields") or {}).items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                values["custom_fields"] = json.dumps(merged, sort_keys=True)
            conn.execute(
                contacts.update()
                .where(contacts.c.username == username)
                .values(updated_at=_now(), **values)
            )
        found = self.contact(username)
        assert found is not None
        return found

    def conversation_count(self, username: str) -> int:
        with self.store.reading() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(conversations)
                .where(conversations.c.contact_username == username)
            ).scalar_one()
