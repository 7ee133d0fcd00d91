"""`SeatHistory`: who sat in a conversation's room, as what, from when to when (the
`conversation_agents` table), written in the transaction of each transition."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.conversation import Conversation, State
from bot.store.schema_conversations import conversation_agents
from bot.store.store import Store


class SeatHistory:
    def __init__(self, store: Store) -> None:
        self.store = store

    def of(self, number: int) -> list[dict[str, Any]]:
        """The conversation's seat history: username, role, started_at, ended_at."""
        with self.store.reading() as conn:
            rows = conn.execute(
                sa.select(conversation_agents)
                .where(conversation_agents.c.conversation_number == number)
                .order_by(conversation_agents.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    def record(
        self,
        conn: sa.Connection,
        conv: Conversation,
        old_agent: str | None,
        old_invited: list[str],
        at: datetime,
    ) -> None:
        ca = conversation_agents
        closed = conv.state is State.CLOSED
        new_agent = None if closed else conv.agent
        new_invited = set() if closed else set(conv.invited)

        def end(username: str, role: str) -> None:
            conn.execute(
                ca.update()
                .where(
                    ca.c.conversation_number == conv.number,
                    ca.c.username == username,
                    ca.c.role == role,
                    ca.c.ended_at.is_(None),
                )
                .values(ended_at=at)
            )

        def start(username: str, role: str) -> None:
            conn.execute(
                ca.insert().values(
                    conversation_number=conv.number, username=username, role=role, started_at=at
                )
            )

        if old_agent and old_agent != new_agent:
            end(old_agent, "serving")
        if new_agent and new_agent != old_agent:
            start(new_agent, "serving")
        for user in set(old_invited) - new_invited:
            end(user, "invited")
        for user in new_invited - set(old_invited):
            start(user, "invited")
