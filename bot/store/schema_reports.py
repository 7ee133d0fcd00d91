"""Indexes the supervisor's reports need on tables other areas own (migration 19).

Declared here, not beside the tables, so the report work stays in its own files; they are part of
the tables' own `metadata` (a table created after this import gets them with it; the migration
checks first).
"""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema_conversations import conversations
from bot.store.schema_runtime import events

REPORT_INDEXES = (
    sa.Index("ix_conversations_created_at", conversations.c.created_at),
    sa.Index("ix_conversations_closed_at", conversations.c.closed_at),
    sa.Index("ix_events_at", events.c.at),
)
