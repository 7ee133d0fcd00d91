"""Migration 2: the omnichannel workflow tables (conversations, contacts, agent state, …)."""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_conversations import TABLES

NAME = "conversations"


def upgrade(conn: sqlalchemy.Connection) -> None:
    # Table.create also creates the indexes declared on the table.
    for table in TABLES:
        table.create(conn)
