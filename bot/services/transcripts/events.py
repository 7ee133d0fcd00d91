"""The agent's transcript's *case events* section: the conversation's story from the event log
(taken, forwarded with comment, held, resumed, closed with comment and tags). Agent-only: the
contact's transcript never carries it (issue 16)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.services.transcripts.model import CaseEvent


def _by(event: Any) -> str:
    return f" by @{event.actor}" if event.actor else ""


def _comment(event: Any) -> str:
    return f": {event.comment}" if event.comment else ""


def describe(event: Any, tags: Iterable[str] = ()) -> str | None:
    """One line for an event, None for the ones that tell nothing to a reader of the case."""
    kind, data = event.kind, event.data or {}
    if kind == "created":
        return "Opened"
    if kind == "taken":
        return f"Taken{_by(event)}"
    if kind == "assigned":
        return (
            f"Assigned to @{data.get('agent') or event.actor}" if data.get("agent") else "Assigned"
        )
    if kind == "forwarded":
        if data.get("to_agent"):
            where = f"@{data['to_agent']}"
        else:
            where = str(data.get("to_department") or "another department")
        return f"Forwarded to {where}{_by(event)}{_comment(event)}"
    if kind == "requeued":
        return f"Returned to the queue{_by(event)}{_comment(event)}"
    if kind == "held":
        return f"Placed on hold{_by(event)}"
    if kind == "resumed":
        return f"Resumed{_by(event)}"
    if kind == "invited":
        return f"@{data.get('user')} invited{_by(event)}"
    if kind == "closed":
        shown = list(tags)
        tail = f" (tags: {', '.join(shown)})" if shown else ""
        return f"Closed{_by(event)}{_comment(event)}{tail}"
    return None


def case_events(events: Iterable[Any], tags: Iterable[str] = ()) -> tuple[CaseEvent, ...]:
    tags = tuple(tags)
    out = []
    for event in events:
        text = describe(event, tags if event.kind == "closed" else ())
        if text is not None:
            out.append(CaseEvent(at=event.at, text=text))
    return tuple(out)
