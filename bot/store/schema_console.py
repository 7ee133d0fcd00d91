"""The agent console (issue 16): one thread per (conversation, agent) in the agent's DM with the
bot. The row is written once the thread's root is posted; `bot/store/console.py` owns it."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema import UTCDateTime, metadata

console_threads = sa.Table(
    "console_threads",
    metadata,
    sa.Column("conversation_id", sa.Integer, primary_key=True),
    sa.Column("agent", sa.String(200), primary_key=True),
    sa.Column("dm_rid", sa.String(200), nullable=False),
    sa.Column("root_id", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # a command typed in the thread names its conversation by the thread's root
    sa.Index("ix_console_threads_root", "root_id"),
)
