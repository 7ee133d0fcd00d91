"""Queue order and a contact's place in it (rules §11, `Omnichannel_sorting_mechanism`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from bot.domain.conversation import Conversation, State

#: `Omnichannel_sorting_mechanism`: Timestamp, Priority, SLAs
SORTING = ("timestamp", "priority", "sla")

_NO_DUE = datetime.max.replace(tzinfo=UTC)  # a chat without an SLA sorts after every due time


def order_key(mechanism: str = "timestamp") -> Callable[[Conversation], tuple]:
    """Timestamp: arrival. Priority: priority weight, then SLA due time, then arrival.
    SLAs: SLA due time, then priority weight, then arrival (RC sorts by the SLA's due minutes;
    a due time is the same order within one arrival and stays right across policies)."""

    def when(c: Conversation) -> datetime:
        return c.queued_at or c.created_at

    def due(c: Conversation) -> datetime:
        return c.sla_due_at or _NO_DUE

    if mechanism == "timestamp":
        return lambda c: (when(c), c.number)
    if mechanism == "priority":
        return lambda c: (c.priority_weight, due(c), when(c), c.number)
    if mechanism == "sla":
        return lambda c: (due(c), c.priority_weight, when(c), c.number)
    raise ValueError(f"unknown sorting mechanism {mechanism!r}")


def ordered(
    conversations: Iterable[Conversation], mechanism: str = "timestamp"
) -> list[Conversation]:
    """Queued conversations, first to be served first."""
    queued = (c for c in conversations if c.state is State.QUEUED)
    return sorted(queued, key=order_key(mechanism))


def position(
    conv: Conversation, conversations: Iterable[Conversation], mechanism: str = "timestamp"
) -> int | None:
    """1-based place of `conv` in its own department's queue (RC's `spot`), None if not queued."""
    if conv.state is not State.QUEUED:
        return None
    key = order_key(mechanism)
    mine = key(conv)
    ahead = sum(
        1
        for c in conversations
        if c.state is State.QUEUED
        and c.department == conv.department
        and c.number != conv.number
        and key(c) < mine
    )
    return ahead + 1
