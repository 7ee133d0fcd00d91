"""The agent console's threads: which DM thread holds a conversation for an agent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.schema_console import console_threads


@dataclass(frozen=True)
class ConsoleThread:
    conversation: int
    agent: str
    dm_rid: str
    root_id: str


def _thread(row: Any) -> ConsoleThread:
    return ConsoleThread(row.conversation_id, row.agent, row.dm_rid, row.root_id)


class ConsoleRepo:
    def __init__(self, store: Any) -> None:
        self.store = store

    def get(self, conversation: int, agent: str) -> ConsoleThread | None:
        query = sa.select(console_threads).where(
            console_threads.c.conversation_id == conversation, console_threads.c.agent == agent
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        return _thread(row) if row else None

    def of_conversation(self, conversation: int) -> list[ConsoleThread]:
        query = sa.select(console_threads).where(console_threads.c.conversation_id == conversation)
        with self.store.engine.connect() as conn:
            return [_thread(r) for r in conn.execute(query.order_by(console_threads.c.created_at))]

    def by_root(self, root_id: str) -> ConsoleThread | None:
        query = sa.select(console_threads).where(console_threads.c.root_id == root_id)
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        return _thread(row) if row else None

    def add(self, thread: ConsoleThread, at: datetime) -> ConsoleThread:
        """Keep the first thread when two writers race (the loser's root stays an orphan)."""
        with self.store.transaction() as conn:
            taken = conn.execute(
                sa.select(console_threads.c.root_id).where(
                    console_threads.c.conversation_id == thread.conversation,
                    console_threads.c.agent == thread.agent,
                )
            ).first()
            if taken is None:
                conn.execute(
                    console_threads.insert().values(
                        conversation_id=thread.conversation,
                        agent=thread.agent,
                        dm_rid=thread.dm_rid,
                        root_id=thread.root_id,
                        created_at=at,
                    )
                )
        return self.get(thread.conversation, thread.agent) or thread
