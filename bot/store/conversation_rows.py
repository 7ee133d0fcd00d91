"""A `Conversation` as a row of the `conversations` table and back, and the per-message
statements on that table (built once: building one cost more than running it)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from bot.domain.conversation import Conversation, Metrics, State
from bot.store.schema_conversations import conversations

METRIC_FIELDS = {
    "m_last_contact_message_at": "last_contact_message_at",
    "m_last_agent_reply_at": "last_agent_reply_at",
    "m_last_message_by": "last_message_by",
    "m_first_response_at": "first_response_at",
    "m_first_response_seconds": "first_response_seconds",
    "m_first_reaction_seconds": "first_reaction_seconds",
    "m_response_count": "response_count",
    "m_response_total_seconds": "response_total_seconds",
    "m_waiting_response": "waiting_response",
}


def state_row(conv: Conversation) -> dict[str, Any]:
    """Columns a transition writes (everything but the number and the metrics)."""
    return {
        "contact_username": conv.contact_username,
        "contact_id": conv.contact_id,
        "contact_name": conv.contact_name,
        "department": conv.department,
        "state": conv.state.value,
        "rid": conv.rid,
        "source": conv.source,
        "agent": conv.agent,
        "previous_agents": json.dumps(list(conv.previous_agents)),
        "invited": json.dumps(list(conv.invited)),
        "default_agent": conv.default_agent,
        "created_at": conv.created_at,
        "queued_at": conv.queued_at,
        "taken_at": conv.taken_at,
        "held_at": conv.held_at,
        "closed_at": conv.closed_at,
        "closed_by": conv.closed_by,
        "closer": conv.closer,
        "comment": conv.comment,
        "tags": json.dumps(list(conv.tags)),
        "topic": conv.topic,
        "priority": conv.priority,
        "transcript_pdf": conv.transcript_pdf,
        "transcript_email": conv.transcript_email,
        "revision": conv.revision,
    }


def metrics_row(m: Metrics) -> dict[str, Any]:
    return {col: getattr(m, attr) for col, attr in METRIC_FIELDS.items()}


GET = sa.select(conversations).where(conversations.c.number == sa.bindparam("n")).limit(1)
BY_ROOM = sa.select(conversations).where(conversations.c.rid == sa.bindparam("rid")).limit(1)
BY_ROOMS = sa.select(conversations).where(
    conversations.c.rid.in_(sa.bindparam("rids", expanding=True))
)
# `/status`, `/mine` and every agent-scoped check: building it per call cost more than running it
FOR_AGENT = (
    sa.select(conversations)
    .where(
        conversations.c.agent == sa.bindparam("agent"),
        conversations.c.state.in_(sa.bindparam("states", expanding=True)),
    )
    .order_by(conversations.c.number)
)
SAVE_METRICS = (
    conversations.update()
    .where(conversations.c.number == sa.bindparam("n"))
    .values({col: sa.bindparam(f"p_{col}") for col in METRIC_FIELDS})
)


def from_row(row: Any) -> Conversation:
    r = row._mapping
    return Conversation(
        number=r["number"],
        contact_username=r["contact_username"],
        contact_id=r["contact_id"],
        contact_name=r["contact_name"],
        created_at=r["created_at"],
        department=r["department"],
        state=State(r["state"]),
        rid=r["rid"],
        source=r["source"],
        agent=r["agent"],
        previous_agents=tuple(json.loads(r["previous_agents"] or "[]")),
        invited=tuple(json.loads(r["invited"] or "[]")),
        default_agent=r["default_agent"],
        queued_at=r["queued_at"],
        taken_at=r["taken_at"],
        held_at=r["held_at"],
        closed_at=r["closed_at"],
        closed_by=r["closed_by"],
        closer=r["closer"],
        comment=r["comment"],
        tags=tuple(json.loads(r["tags"] or "[]")),
        topic=r["topic"],
        priority=r["priority"],
        transcript_pdf=bool(r["transcript_pdf"]),
        transcript_email=r["transcript_email"],
        metrics=Metrics(
            **{attr: r[col] for col, attr in METRIC_FIELDS.items()}
            | {"waiting_response": bool(r["m_waiting_response"])}
        ),
        revision=r["revision"],
    )
