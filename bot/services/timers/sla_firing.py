"""What the SLA timers do (issue 19): warn the serving agent before the first response is due,
and at the due time record the breach and tell the department's supervisors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain import Conversation
from bot.services import notify
from bot.services.timers import actions

SLA_WARNED = "timers:sla-warned:"  # + number → the due time the agent was warned about


def warned(store: Any, conv: Conversation) -> bool:
    assert conv.sla_due_at is not None
    return store.kv_get(SLA_WARNED + str(conv.number)) == conv.sla_due_at.isoformat()


def warn(services: Any, conv: Conversation, now: datetime) -> str:
    """Tell the serving agent, in their console (DM), that the first response is due."""
    assert conv.sla_due_at is not None and conv.agent is not None
    services.store.kv_set(SLA_WARNED + str(conv.number), conv.sla_due_at.isoformat())
    left = notify.waited(max(0.0, (conv.sla_due_at - now).total_seconds()))
    services.posting.dm(
        conv.agent,
        f"SLA warning: #{conv.number} from {notify.contact_label(conv)} needs a first "
        f"response within {left} (SLA {conv.sla}). "
        f"Room: {services.effects.room_link(conv)}",
    )
    return "warned"


def breach(services: Any, conv: Conversation) -> str:
    """Record the breach (column + event row, once) and tell the department's supervisors
    and the serving agent."""
    assert conv.sla_due_at is not None
    if not services.repo.record_sla_breach(
        conv.number, conv.sla_due_at, actor=services.directory.bot_name
    ):
        return "moot"
    due = conv.sla_due_at.astimezone(UTC)
    who = f"served by @{conv.agent}" if conv.agent else "still in the queue"
    text = (
        f"SLA breach: #{conv.number} from {notify.contact_label(conv)} in "
        f"{notify.where(conv.department)} has had no first response within its SLA "
        f"{conv.sla} (due {due:%H:%M} UTC; {who}). "
        f"Room: {services.effects.room_link(conv)}"
    )
    actions.alert(services, services.config.supervisor_room_for(conv.department), text)
    if conv.agent:
        services.posting.dm(
            conv.agent, f"SLA breached: #{conv.number} still has no first response."
        )
    return "breached"
