"""The append-only record of what happened to a conversation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One transition (or notable action) on a conversation, as stored in the `events` table.

    `kind` is one of: created, taken, assigned, requeued, forwarded, held, resumed, closed,
    invited, info, transcript-requested, transcript-failed. The domain makes them without an
    `id`; one read back from the log carries its row id. A logged event about no conversation
    (or a bot-made one without an actor) reads back with `conversation` / `actor` None.
    """

    actor: str | None
    at: datetime
    kind: str
    conversation: int | None
    from_state: str | None
    to_state: str | None
    comment: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
