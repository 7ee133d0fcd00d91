"""The words of a transcript: its title, header lines and the lines around each message.

Shared by the PDF renderers (`pdf.py`, `naive.py`) and the e-mail's plain-text body
(`email.py`), so a reader sees the same header and the same author lines in each.
"""

from __future__ import annotations

from datetime import datetime

from .model import TranscriptAttachment, TranscriptData, TranscriptMessage

# Not "-": pdftotext joins a line ending in a hyphen with the next one.
NONE = "—"


def human_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def attachment_line(att: TranscriptAttachment) -> str:
    return f"Attachment: {att.name} ({att.mime_type}, {human_size(att.size)})"


def author_line(data: TranscriptData, msg: TranscriptMessage) -> str:
    parts = [data.local(msg.ts).strftime("%H:%M"), msg.author]
    if msg.edited:
        parts.append("(edited)")
    if msg.tmid:
        parts.append("(thread reply)")
    return "  ".join(parts)


def quote_line(msg: TranscriptMessage) -> str | None:
    if not msg.quote:
        return None
    who = f"{msg.quote_author}: " if msg.quote_author else ""
    return f"> {who}{msg.quote}"


def _fmt_time(data: TranscriptData, when: datetime | None) -> str:
    return data.local(when).strftime("%Y-%m-%d %H:%M") if when else NONE


CASE_EVENTS = "Case events"


def header_lines(data: TranscriptData) -> list[tuple[str, str]]:
    contact = data.contact
    who = " ".join(
        p
        for p in (
            contact.name or "",
            f"@{contact.username}" if contact.username else "",
            f"<{contact.email}>" if contact.email else "",
        )
        if p
    )
    return [
        ("Conversation", f"#{data.number} {data.room_name}".strip()),
        ("Contact", who or NONE),
        ("Department", data.department or NONE),
        ("Agents", ", ".join(data.agents) or NONE),
        ("Tags", ", ".join(data.tags) or NONE),
        ("Topic", data.topic or NONE),
        ("Created", _fmt_time(data, data.created_at)),
        ("Taken", _fmt_time(data, data.taken_at)),
        ("Closed", _fmt_time(data, data.closed_at)),
        ("Messages", str(len(data.messages))),
        ("Times in", data.tz_label),
    ]


def title_line(data: TranscriptData) -> str:
    return f"{data.site_name} — transcript of #{data.number}"
