"""The reads of `ConversationRepo`: one conversation by number or room, and the lists the
services ask for (a contact's, an agent's, the queue, the open ones, the recently changed)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.conversation import OPEN_STATES, Conversation, State
from bot.store.conversation_rows import BY_ROOM, BY_ROOMS, FOR_AGENT, GET, from_row
from bot.store.schema_conversations import conversations
from bot.store.store import Store


class ConversationQueries:
    """Read-only; the base of `ConversationRepo`."""

    store: Store

    def _many(self, query: sa.Select) -> list[Conversation]:
        with self.store.reading() as conn:
            return [from_row(r) for r in conn.execute(query)]

    def _one(self, query: sa.Select) -> Conversation | None:
        found = self._many(query.limit(1))
        return found[0] if found else None

    def get(self, number: int) -> Conversation | None:
        with self.store.reading() as conn:
            row = conn.execute(GET, {"n": number}).first()
        return from_row(row) if row else None

    def by_room(self, rid: str, *, conn: sa.Connection | None = None) -> Conversation | None:
        """The conversation of a room; with `conn`, read inside the caller's transaction."""
        if conn is not None:
            row = conn.execute(BY_ROOM, {"rid": rid}).first()
        else:
            with self.store.reading() as own:
                row = own.execute(BY_ROOM, {"rid": rid}).first()
        return from_row(row) if row else None

    def by_rooms(
        self, rids: Iterable[str], *, conn: sa.Connection | None = None
    ) -> dict[str, Conversation]:
        """The conversations of these rooms (those that have one), by rid; with `conn`, read
        inside the caller's transaction."""
        unique = sorted(set(rids))
        found: dict[str, Conversation] = {}
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.store.reading())
            for start in range(0, len(unique), 500):
                for row in conn.execute(BY_ROOMS, {"rids": unique[start : start + 500]}):
                    conv = from_row(row)
                    found[conv.rid or ""] = conv
        return found

    def open_for_contact(self, username: str) -> Conversation | None:
        return self._one(
            sa.select(conversations).where(
                conversations.c.contact_username == username,
                conversations.c.state != State.CLOSED.value,
            )
        )

    def for_contact(self, username: str, *, closed_only: bool = False) -> list[Conversation]:
        """The contact's conversations, newest first."""
        query = sa.select(conversations).where(conversations.c.contact_username == username)
        if closed_only:
            query = query.where(conversations.c.state == State.CLOSED.value)
        return self._many(query.order_by(conversations.c.number.desc()))

    def queued(self, departments: Iterable[str | None] | None = None) -> list[Conversation]:
        """Queued conversations in queue order; `departments` may include None (the public
        queue); None = every department."""
        query = sa.select(conversations).where(conversations.c.state == State.QUEUED.value)
        if departments is not None:
            wanted = list(departments)
            names = [d for d in wanted if d is not None]
            cond = conversations.c.department.in_(names)
            if None in wanted:
                cond = sa.or_(cond, conversations.c.department.is_(None))
            query = query.where(cond)
        return self._many(query.order_by(conversations.c.queued_at, conversations.c.number))

    def for_agent(
        self, username: str, states: Iterable[State | str] = (State.SERVING, State.ON_HOLD)
    ) -> list[Conversation]:
        values = [State(s).value for s in states]
        with self.store.reading() as conn:
            rows = conn.execute(FOR_AGENT, {"agent": username, "states": values})
            return [from_row(r) for r in rows]

    def numbers_changed_since(self, since: datetime) -> list[int]:
        """Numbers of the conversations updated at or after `since`, in order."""
        query = (
            sa.select(conversations.c.number)
            .where(conversations.c.updated_at >= since)
            .order_by(conversations.c.number)
        )
        with self.store.reading() as conn:
            return [row[0] for row in conn.execute(query)]

    def open_conversations(self) -> list[Conversation]:
        return self._many(
            sa.select(conversations)
            .where(conversations.c.state.in_([s.value for s in OPEN_STATES]))
            .order_by(conversations.c.number)
        )

    def events(self, number: int) -> list[Any]:
        return self.store.events(number)
