"""Migration 3: the conversation message store (`messages`, `message_files`)."""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_messages import message_files, messages

NAME = "messages"


def upgrade(conn: sqlalchemy.Connection) -> None:
    # Table.create also creates the indexes declared on the table.
    messages.create(conn)
    message_files.create(conn)
