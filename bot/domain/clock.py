"""The bot's clock: aware UTC datetimes (injected where a test needs another time)."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)
