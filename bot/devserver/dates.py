"""Dates on the dev server's wire: the one clock, and the REST/DDP forms of a date.

The dev server keeps its own helpers (it is independent of the bot). Every module reads the
clock as `dates.now()`, so a test can swap this one function and move the whole server in time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def now() -> datetime:
    # Millisecond precision, like Mongo dates, so a value survives the ISO/$date round trip.
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def parse_date(value: Any) -> datetime | None:
    """DDP `{"$date": ms}`, REST ISO strings or epoch ms, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, dict) and "$date" in value:
        value = value["$date"]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_date(int(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def to_wire_date(value: datetime) -> dict[str, int]:
    """A datetime as DDP EJSON."""
    return {"$date": int(value.timestamp() * 1000)}


def to_iso(value: datetime) -> str:
    """A datetime as Rocket.Chat's REST ISO string (millisecond precision, `Z`)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
