"""Tables the runtime needs: de-duplication, per-room cursors, users cache, events log, kv."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema import UTCDateTime, metadata

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

# A message is processed once per revision: an edit (new `_updatedAt`) is a new revision.
processed_messages = sa.Table(
    "processed_messages",
    metadata,
    sa.Column("msg_id", sa.String(64), nullable=False),
    sa.Column("revision", sa.String(64), nullable=False, server_default=""),
    sa.Column("rid", sa.String(64), nullable=False),
    sa.Column("processed_at", UTCDateTime, nullable=False),
    sa.PrimaryKeyConstraint("msg_id", "revision"),
)
sa.Index("ix_processed_messages_processed_at", processed_messages.c.processed_at)

room_cursors = sa.Table(
    "room_cursors",
    metadata,
    sa.Column("rid", sa.String(64), primary_key=True),
    sa.Column("last_ts", UTCDateTime, nullable=False),
    sa.Column("last_msg_id", sa.String(64), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

users_cache = sa.Table(
    "users_cache",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(200), nullable=False, unique=True),
    sa.Column("name", sa.String(400), nullable=True),
    sa.Column("roles", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("utc_offset", sa.Float, nullable=True),
    sa.Column("emails", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("status", sa.String(32), nullable=True),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("type", sa.String(32), nullable=False, server_default="user"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Append-only: rows are never updated or deleted (the audit trail of every transition).
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("conversation_id", sa.String(64), nullable=True),
    sa.Column("from_state", sa.String(32), nullable=True),
    sa.Column("to_state", sa.String(32), nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("data", sa.Text, nullable=True),  # JSON object
)
sa.Index("ix_events_conversation_id", events.c.conversation_id, events.c.id)

kv = sa.Table(
    "kv",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=True),
)
