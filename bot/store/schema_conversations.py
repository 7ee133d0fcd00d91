"""Tables of the omnichannel workflow: conversations, who served them, contacts, agent state,
routing counters and the conversation number counter (migration 2)."""

from __future__ import annotations

import sqlalchemy as sa

from bot.store.schema import UTCDateTime, metadata

# One row per conversation; `revision` is the compare-and-set token of every transition.
# Metrics columns (`m_*`) are written only by the per-message path, never by transitions, so a
# transition decided on an older copy cannot roll the metrics back.
conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("contact_username", sa.String(200), nullable=False),
    sa.Column("contact_id", sa.String(64), nullable=True),
    sa.Column("contact_name", sa.String(400), nullable=True),
    sa.Column("department", sa.String(200), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("rid", sa.String(64), nullable=True, unique=True),
    sa.Column("source", sa.String(32), nullable=False, server_default="dm"),
    sa.Column("agent", sa.String(200), nullable=True),
    sa.Column("previous_agents", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("invited", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("default_agent", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("queued_at", UTCDateTime, nullable=True),
    sa.Column("taken_at", UTCDateTime, nullable=True),
    sa.Column("held_at", UTCDateTime, nullable=True),
    sa.Column("closed_at", UTCDateTime, nullable=True),
    sa.Column("closed_by", sa.String(200), nullable=True),
    sa.Column("closer", sa.String(16), nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("tags", sa.Text, nullable=False, server_default="[]"),  # JSON list
    sa.Column("topic", sa.Text, nullable=True),
    sa.Column("priority", sa.String(16), nullable=True),
    # SLA (issue 19, migration 21): the policy, its first-response due time, and the breach
    # (written by the timer alone, like the metrics, so a transition never rolls it back)
    sa.Column("sla", sa.String(200), nullable=True),
    sa.Column("sla_due_at", UTCDateTime, nullable=True),
    sa.Column("sla_breached_at", UTCDateTime, nullable=True),
    sa.Column("transcript_pdf", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("transcript_email", sa.String(320), nullable=True),
    sa.Column("m_last_contact_message_at", UTCDateTime, nullable=True),
    sa.Column("m_last_agent_reply_at", UTCDateTime, nullable=True),
    sa.Column("m_last_message_by", sa.String(16), nullable=True),
    sa.Column("m_first_response_at", UTCDateTime, nullable=True),
    sa.Column("m_first_response_seconds", sa.Float, nullable=True),
    sa.Column("m_first_reaction_seconds", sa.Float, nullable=True),
    sa.Column("m_response_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("m_response_total_seconds", sa.Float, nullable=False, server_default="0"),
    sa.Column("m_waiting_response", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
sa.Index(
    "ix_conversations_queue",
    conversations.c.state,
    conversations.c.department,
    conversations.c.queued_at,
)
sa.Index("ix_conversations_agent", conversations.c.agent, conversations.c.state)
sa.Index("ix_conversations_contact", conversations.c.contact_username, conversations.c.state)
# At most one open conversation per contact, enforced by the database itself.
sa.Index(
    "uq_conversations_open_contact",
    conversations.c.contact_username,
    unique=True,
    sqlite_where=conversations.c.state != "closed",
    postgresql_where=conversations.c.state != "closed",
)

# Who had a seat in a conversation and when: serving agents (and invited users).
conversation_agents = sa.Table(
    "conversation_agents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "conversation_number",
        sa.Integer,
        sa.ForeignKey("conversations.number", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("username", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # serving | invited
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime, nullable=True),
)
sa.Index("ix_conversation_agents_conv", conversation_agents.c.conversation_number)
sa.Index("ix_conversation_agents_user", conversation_agents.c.username)

contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("username", sa.String(200), primary_key=True),
    sa.Column("contact_id", sa.String(64), nullable=True),
    sa.Column("name", sa.String(400), nullable=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("phone", sa.String(64), nullable=True),
    sa.Column("custom_fields", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_agent", sa.String(200), nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

agent_state = sa.Table(
    "agent_state",
    metadata,
    sa.Column("username", sa.String(200), primary_key=True),
    sa.Column("availability", sa.String(16), nullable=False, server_default="not-available"),
    sa.Column("last_assigned_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Round-robin counts per department and agent; department "" is the public queue (a primary
# key column cannot be NULL).
routing_counters = sa.Table(
    "routing_counters",
    metadata,
    sa.Column("department", sa.String(200), primary_key=True),
    sa.Column("username", sa.String(200), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False, server_default="0"),
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)

TABLES = (conversations, conversation_agents, contacts, agent_state, routing_counters, counters)
