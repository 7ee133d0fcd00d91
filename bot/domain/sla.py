"""SLA policies and priorities (rules §11): a policy promises a first response within
`due_minutes` of the chat entering the queue; a chat breaches it when no agent has answered
by then.

Pure functions of the conversation and a clock value; the timer service asks them when to warn
the serving agent and when to record the breach.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.conversation import PRIORITY_WEIGHTS, Conversation, State

#: Rocket.Chat's priority names, most urgent first (weights 1..5; unset = 99)
PRIORITIES = tuple(name for name in PRIORITY_WEIGHTS if name is not None)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """`IOmnichannelServiceLevelAgreements`: {name, description, dueTimeInMinutes}."""

    name: str
    due_minutes: int
    description: str = ""

    def due_at(self, start: datetime) -> datetime:
        return start + timedelta(minutes=self.due_minutes)


def sla_start(conv: Conversation) -> datetime:
    """The promise runs from arrival in the queue (RC: the inquiry's `ts`)."""
    return conv.queued_at or conv.created_at


def awaiting_first_response(conv: Conversation) -> bool:
    """Open, with an SLA, and no agent has answered yet (the only time an SLA can breach)."""
    return conv.is_open and conv.sla_due_at is not None and conv.metrics.first_response_at is None


def breach_due(conv: Conversation) -> datetime | None:
    """When the breach is recorded, or None (no SLA, answered, or already recorded)."""
    if conv.sla_breached_at is not None or not awaiting_first_response(conv):
        return None
    return conv.sla_due_at


def warning_due(conv: Conversation, warn_before: timedelta) -> datetime | None:
    """When the serving agent is warned that the first-response time is near, or None
    (nobody serves it yet, answered, breached, or warnings are off)."""
    if warn_before <= timedelta(0) or conv.agent is None or conv.state is not State.SERVING:
        return None
    due = breach_due(conv)
    return None if due is None else due - warn_before


def in_breach(conv: Conversation, now: datetime) -> bool:
    """An SLA breach in progress: open, unanswered, past its due time."""
    due = conv.sla_due_at
    return awaiting_first_response(conv) and due is not None and now >= due
