"""What a transcript shows, independent of where it came from.

The caller (the delivery code) fills these from the store and the chat; the renderers and the
e-mail builder only read them. Plain frozen dataclasses so a 10,000-message transcript can be
handed to a worker thread without sharing anything mutable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


@dataclass(frozen=True)
class TranscriptContact:
    name: str | None = None
    username: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class TranscriptAttachment:
    name: str
    mime_type: str = "application/octet-stream"
    size: int | None = None  # bytes; None when the server did not say
    data: bytes | None = None  # image bytes to embed; None = list it only

    @property
    def is_image(self) -> bool:
        return self.mime_type.lower() in IMAGE_TYPES


@dataclass(frozen=True)
class TranscriptMessage:
    ts: datetime  # aware (naive values are taken as UTC)
    username: str
    text: str = ""
    display_name: str | None = None
    system: str | None = None  # message type of a workflow/system message, None for chat
    edited: bool = False
    tmid: str | None = None  # set when the message is a thread reply
    quote: str | None = None  # quoted text, when the message quotes another one
    quote_author: str | None = None
    attachments: Sequence[TranscriptAttachment] = ()

    @property
    def author(self) -> str:
        if self.display_name and self.display_name != self.username:
            return f"{self.display_name} (@{self.username})"
        return f"@{self.username}" if self.username else (self.display_name or "")


@dataclass(frozen=True)
class CaseEvent:
    """One line of the agent's *case events* section (from the event log)."""

    at: datetime
    text: str


@dataclass(frozen=True)
class TranscriptData:
    number: int
    room_name: str = ""
    site_name: str = "Omnicat"
    contact: TranscriptContact = field(default_factory=TranscriptContact)
    department: str | None = None
    agents: Sequence[str] = ()
    tags: Sequence[str] = ()
    topic: str | None = None
    created_at: datetime | None = None
    taken_at: datetime | None = None
    closed_at: datetime | None = None
    # A tzinfo, an IANA name (`transcripts.timezone`), or a UTC offset in hours (the agent's
    # Rocket.Chat `utcOffset`, which can be fractional: India is 5.5).
    timezone: tzinfo | float | str = 0.0
    timezone_label: str | None = None  # e.g. "Asia/Tokyo"; derived from the offset when unset
    messages: Sequence[TranscriptMessage] = ()
    #: the agents' *case events* (empty in the contact's transcript)
    events: Sequence[CaseEvent] = ()

    def for_contact(self) -> TranscriptData:
        """What the contact may read: the messages they saw, without the agents' events, tags
        and topic, and without the bot's workflow notes of older runs."""
        seen = tuple(m for m in self.messages if m.system in (None, "bot"))
        return replace(self, events=(), tags=(), topic=None, messages=seen)

    @property
    def tz(self) -> tzinfo:
        return as_tzinfo(self.timezone)

    @property
    def tz_label(self) -> str:
        if self.timezone_label:
            return self.timezone_label
        if isinstance(self.timezone, str) and self.timezone.upper() != "UTC":
            return f"{self.timezone} ({offset_label(self.tz)})"
        return offset_label(self.tz)

    def local(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(self.tz)


def as_tzinfo(value: tzinfo | float | str) -> tzinfo:
    if isinstance(value, tzinfo):
        return value
    if isinstance(value, str):
        return UTC if value.upper() == "UTC" else ZoneInfo(value)
    return timezone(timedelta(minutes=round(float(value) * 60)))


def offset_label(tz: tzinfo) -> str:
    """'UTC+09:00' style label; Rocket.Chat offsets can be fractional (India: +5.5)."""
    offset = datetime.now(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
