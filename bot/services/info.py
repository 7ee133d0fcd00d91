"""`/info`: a conversation's fields and response metrics as chat lines (rules §8.1-§8.3).

The numbers come from the domain (`Conversation.queue_seconds`, `Metrics`); this module only
chooses what to show when and how it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.domain import Conversation, State
from bot.domain.sla import in_breach
from bot.domain.text import inline
from bot.services.notify import duration
from bot.store.ratings import Rating

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
    rating: Rating | None = None,
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
        sla_line(conv, now, when),
        f"Tags: {', '.join(conv.tags) if conv.tags else '—'}",
    ]
    if rating is not None:
        lines.append(rating_line(rating))
    if conv.state is State.CLOSED and conv.comment:
        lines.append(f"Closing comment: {inline(conv.comment)}")
    return lines


def sla_line(conv: Conversation, now: datetime, when: Callable[[datetime | None], str]) -> str:
    """`SLA: standard, first response due 10:30` (+ `breached at …` / `met`)."""
    if not conv.sla or conv.sla_due_at is None:
        return "SLA: none"
    text = f"SLA: {conv.sla}, first response due {when(conv.sla_due_at)}"
    if conv.sla_breached_at is not None:
        return text + f" (breached at {when(conv.sla_breached_at)})"
    if in_breach(conv, now):
        return text + " (breached)"
    answered = conv.metrics.first_response_at
    if answered is not None:
        return text + (" (met)" if answered <= conv.sla_due_at else " (missed)")
    return text


def rating_line(rating: Rating) -> str:
    if rating.rating is None:
        return "Satisfaction: asked, no answer yet"
    said = f' "{rating.comment}"' if rating.comment else ""
    return f"Satisfaction: {rating.rating}/5{said}"
