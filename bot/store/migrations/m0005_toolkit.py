"""Migration 5: the agent toolkit (`canned_responses`, `calls`)."""

from __future__ import annotations

import sqlalchemy

from bot.store.schema_toolkit import calls, canned_responses

NAME = "toolkit"


def upgrade(conn: sqlalchemy.Connection) -> None:
    canned_responses.create(conn)
    calls.create(conn)
