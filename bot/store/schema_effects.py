"""The effect journal (issue 20): effects the chat server cannot de-duplicate for us.

A message carries an `_id` derived from its event, and the server keeps one copy whatever
happens (`bot.chat.effect_scope`). An upload (`rooms.media`) and an e-mail (SMTP) have no such
id: the journal remembers them, keyed the same way (the event, the effect's place), as sent or
not yet. One row per upload or e-mail the bot makes, a few dozen bytes: the same order as the
transcript delivery log it sits next to.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from bot.store.schema import UTCDateTime, metadata

effect_journal = Table(
    "effect_journal",
    metadata,
    Column("key", String(255), primary_key=True),  # e.g. "transcript-request:12/pdf"
    Column("kind", String(32), nullable=False),  # upload | email
    Column("state", String(16), nullable=False),  # pending | sent
    Column("ref", String(255), nullable=True),  # what the server answered (a message id)
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
)

EFFECT_INDEXES = (Index("ix_effect_journal_created_at", effect_journal.c.created_at),)
