"""Tables for the conversation messages the bot keeps (issue 6: search, history, files).

The bot receives every message of the rooms it serves, so it keeps its own copy: search and
history then never depend on the server's search. One row per message holds its *current*
revision (edits replace the text, a `t:"rm"` marks it deleted and clears the text); `revision`
is `Message.version`'s stamp so a late, older event never overwrites a newer one.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from bot.store.schema import UTCDateTime, metadata

messages = Table(
    "messages",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("rid", String(64), nullable=False),
    # `conversations.number` when the message was stored in a conversation room. No foreign
    # key: messages may be stored before (or without) their conversation row.
    Column("conversation_id", Integer, nullable=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("author_id", String(64), nullable=False, default=""),
    Column("author_username", String(255), nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("type", String(64), nullable=True),
    Column("edited_at", UTCDateTime, nullable=True),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("tmid", String(64), nullable=True),
    Column("has_files", Boolean, nullable=False, default=False),
    Column("revision", Float, nullable=False),
    Column("updated_at", UTCDateTime, nullable=True),
)

Index("ix_messages_rid_ts", messages.c.rid, messages.c.ts)
Index("ix_messages_conversation_ts", messages.c.conversation_id, messages.c.ts)
Index("ix_messages_rid_author_ts", messages.c.rid, messages.c.author_username, messages.c.ts)

message_files = Table(
    "message_files",
    metadata,
    Column("msg_id", String(64), ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("file_id", String(64), primary_key=True),
    Column("name", String(1024), nullable=False),
    Column("type", String(255), nullable=False),
    Column("size", Integer, nullable=False, default=0),
    Column("description", Text, nullable=True),
    Column("url", String(2048), nullable=True),
)

TABLES = (messages, message_files)
