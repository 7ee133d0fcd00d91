"""Migration 4: transcripts (stored PDFs, preferences, pending requests, delivery log)."""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_transcripts import TABLES

NAME = "transcripts"


def upgrade(conn: sqlalchemy.Connection) -> None:
    # Table.create also creates the indexes declared on the table.
    for table in TABLES:
        table.create(conn)
