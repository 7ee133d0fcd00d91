"""Tables of the transcripts (issue 5): stored PDFs, agents' preferences, pending requests and
the delivery log (migration 4).

The PDF itself lives in the database (one row per conversation, a few hundred KB at most for a
long chat): a repeated request re-delivers exactly the same bytes, backups carry it along, and
there is no data directory to configure or to lose.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, LargeBinary, String, Table, Text

from bot.store.schema import UTCDateTime, metadata

# One PDF per conversation: the first request renders it, every later one re-delivers it.
transcript_files = Table(
    "transcript_files",
    metadata,
    Column("conversation_number", Integer, primary_key=True, autoincrement=False),
    Column("filename", String(255), nullable=False),
    Column("mime", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("timezone", String(64), nullable=False),  # the label the PDF states its times in
    Column("rendered_for", String(255), nullable=True),  # whose request rendered it
    Column("created_at", UTCDateTime, nullable=False),
)

# `/prefs transcript-pdf on`, `/prefs transcript-email on`: applied at every close of a chat
# the agent serves, whoever or whatever closes it.
transcript_prefs = Table(
    "transcript_prefs",
    metadata,
    Column("username", String(255), primary_key=True),
    Column("pdf", Boolean, nullable=False, default=False),
    Column("email", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Wishes recorded while the conversation is open (`/transcript email` before the close): who
# asked (their DM gets the outcome) and the subject they chose; `trigger` is NULL for these.
# At close they are folded into the close's plan: one row per delivery (the close's flags, the
# recorded wishes, the serving agent's preferences) with its `trigger` set. A planned row is done
# only when its delivery row is written (delivered or failure reported), so a crash in between
# leaves it pending and the next start delivers it (migration 7 added `trigger`).
transcript_requests = Table(
    "transcript_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_number", Integer, nullable=False),
    Column("kind", String(8), nullable=False),  # pdf | email
    Column("requester", String(255), nullable=False),
    Column("address", String(320), nullable=True),
    Column("subject", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    Column("trigger", String(32), nullable=True),  # planned at close: command | close | preference
)
Index("ix_transcript_requests_conv", transcript_requests.c.conversation_number)

# One row per delivery attempt, successful or not; the conversation's events get a line too.
transcript_deliveries = Table(
    "transcript_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_number", Integer, nullable=False),
    Column("kind", String(8), nullable=False),  # pdf | email
    Column("requester", String(255), nullable=False),
    Column("target", String(320), nullable=True),  # DM room id, or the masked address
    Column("trigger", String(32), nullable=False),  # command | close | preference
    Column("ok", Boolean, nullable=False),
    Column("reason", Text, nullable=True),
    Column("message_id", String(64), nullable=True),  # the DM that carried the PDF
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_transcript_deliveries_conv", transcript_deliveries.c.conversation_number)

TABLES = (transcript_files, transcript_prefs, transcript_requests, transcript_deliveries)
