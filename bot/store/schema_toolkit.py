"""Tables of the agent toolkit (issue 6): canned responses created in chat, and calls.

Canned responses from YAML (`canned:`) are not stored: the config stays their single source,
and the catalog merges both at read time (shortcuts are unique across the two).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from bot.store.schema import UTCDateTime, metadata

canned_responses = Table(
    "canned_responses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # lowercase, without the leading "!": shortcuts are unique whatever the scope (rules §9)
    Column("shortcut", String(64), nullable=False, unique=True),
    Column("text", Text, nullable=False),
    Column("scope", String(16), nullable=False),  # global | department | user
    Column("department", String(255), nullable=True),
    Column("owner", String(255), nullable=True),  # the creator; the only user of `user` scope
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(255), nullable=True),
)

calls = Table(
    "calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", Integer, nullable=True),
    Column("rid", String(64), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("started_by", String(255), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("msg_id", String(64), nullable=True),
    # the contact's answer: joined | declined | None (no answer yet)
    Column("answer", String(16), nullable=True),
    Column("answered_at", UTCDateTime, nullable=True),
    # everyone who pressed Join, comma-separated usernames in order
    Column("joined", Text, nullable=False, default=""),
)

Index("ix_calls_rid_started", calls.c.rid, calls.c.started_at)

TABLES = (canned_responses, calls)
