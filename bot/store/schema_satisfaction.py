"""Satisfaction ratings (CSAT, issue 19; migration 21): one row per closed conversation whose
contact was asked. `rating` stays NULL until the contact answers; a row asked but never
answered is what lets the intake tell a rating from a new question."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema import UTCDateTime, metadata

conversation_ratings = sa.Table(
    "conversation_ratings",
    metadata,
    sa.Column(
        "conversation_number",
        sa.Integer,
        sa.ForeignKey("conversations.number", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("contact_username", sa.String(200), nullable=False),
    sa.Column("asked_at", UTCDateTime, nullable=False),
    sa.Column("rating", sa.Integer, nullable=True),  # 1..5
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("rated_at", UTCDateTime, nullable=True),
)
# "Is this contact's next line a rating?": the contact's latest unanswered ask.
sa.Index(
    "ix_conversation_ratings_contact",
    conversation_ratings.c.contact_username,
    conversation_ratings.c.asked_at,
)
