"""A conversation's states, the constants its transitions speak, and its response metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    QUEUED = "queued"
    SERVING = "serving"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


OPEN_STATES = frozenset({State.QUEUED, State.SERVING, State.ON_HOLD})

# Rocket.Chat's priority weights (lower is more urgent); None = not specified (99).
PRIORITY_WEIGHTS: dict[str | None, int] = {
    "highest": 1,
    "high": 2,
    "medium": 3,
    "low": 4,
    "lowest": 5,
    None: 99,
}

KEEP = object()  # "leave the department as it is"

CONTACT = "contact"
AGENT = "agent"


@dataclass(frozen=True, slots=True)
class Metrics:
    """Response metrics, updated per message with Rocket.Chat's rules (rules §8.3)."""

    last_contact_message_at: datetime | None = None
    last_agent_reply_at: datetime | None = None
    last_message_by: str | None = None  # CONTACT | AGENT | None; decides whether hold is allowed
    first_response_at: datetime | None = None
    first_response_seconds: float | None = None
    first_reaction_seconds: float | None = None
    response_count: int = 0
    response_total_seconds: float = 0.0
    waiting_response: bool = True

    @property
    def average_response_seconds(self) -> float | None:
        if not self.response_count:
            return None
        return self.response_total_seconds / self.response_count
