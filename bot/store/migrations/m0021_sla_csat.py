"""Migration 21 (issue 19): SLA columns on `conversations` and the `conversation_ratings` table.

The columns are declared on the table itself, so a database created after this change already
has them from migration 2: each is added only when missing.
"""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema_conversations import conversations
from bot.store.schema_satisfaction import conversation_ratings

NAME = "sla_csat"

_COLUMNS = ("sla", "sla_due_at", "sla_breached_at")


def upgrade(conn: sa.Connection) -> None:
    have = {c["name"] for c in sa.inspect(conn).get_columns(conversations.name)}
    for name in _COLUMNS:
        if name in have:
            continue
        column = conversations.c[name]
        kind = column.type.compile(dialect=conn.dialect)
        conn.execute(sa.text(f"ALTER TABLE {conversations.name} ADD COLUMN {name} {kind}"))
    conversation_ratings.create(conn, checkfirst=True)
