"""`/info`: a conversation's fields and response metrics as chat lines (rules §8.1-§8.3).

The numbers come from the domain (`Conversation.queue_seconds`, `Metrics`); this module only
chooses what to show when and how it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.domain import Conversation, State
from bot.domain.text import inline
from bot.services.notify import duration

STATUS_TEXT = {
    State.QUEUED: "queued",
    State.SERVING: "serving",
    State.ON_HOLD: "on hold",
    State.CLOSED: "closed",
}


def info_lines(
    conv: Conversation,
    now: datetime,
    when: Callable[[datetime | None], str],
    *,
    contact_name: str | None = None,
) -> list[str]:
    """Label: value lines for `/info`, in the order of Rocket.Chat's room info panel."""
    m = conv.metrics
    name = contact_name or conv.contact_name
    user = f"@{inline(conv.contact_username)}"
    contact = f"{inline(name, 80)} ({user})" if name else user
    lines = [
        f"Conversation #{conv.number} — {STATUS_TEXT[conv.state]}",
        f"Department: {conv.department or 'none (public queue)'}",
        f"Contact: {contact}",
        f"Agent: {'@' + conv.agent if conv.agent else '—'}",
        f"Created at: {when(conv.created_at)}",
        f"Queue time: {duration(conv.queue_seconds(now))}",
        f"Taken at: {when(conv.taken_at)}",
        f"Average response time: {duration(m.average_response_seconds)}",
        f"First response time: {duration(m.first_response_seconds)}",
    ]
    if conv.is_open:
        inactivity = conv.inactivity_seconds(now)
        waiting = " (the contact is waiting for a reply)" if m.waiting_response else ""
        lines.append(f"Inactivity time: {duration(inactivity)}{waiting}")
    else:
        lines.append(f"Closed at: {when(conv.closed_at)}")
        lines.append(f"Chat duration: {duration(conv.chat_seconds(now))}")
    lines += [
        f"Topic: {inline(conv.topic) or '—'}",
        f"Priority: {conv.priority or 'none'}",
        f"Tags: {', '.join(conv.tags) if conv.tags else '—'}",
    ]
    if conv.state is State.CLOSED and conv.comment:
        lines.append(f"Closing comment: {inline(conv.comment)}")
    return lines
