"""What the workflow says: room notes, agent notifications and contact messages.

All user-facing sentences of the workflow live here, so tests and translations have one place to
look. Room notes are stored in the message store with Rocket.Chat's system message type (rules
§13) as their `type`, so transcripts and history can tell the story apart from the chat.
"""

from __future__ import annotations

from datetime import datetime

from bot.chat.types import Action, Attachment
from bot.domain import CONTACT, Conversation
from bot.domain.text import inline, name_of, quoted

# Rocket.Chat system message types (rules §13), used as the stored type of our room notes.
STARTED = "livechat-started"
JOINED = "uj"
TRANSFER = "livechat_transfer_history"
HELD = "omnichannel_placed_chat_on_hold"
RESUMED = "omnichannel_on_hold_chat_resumed"
CLOSED = "livechat-close"
INVITED = "au"


def where(department: str | None) -> str:
    return department if department else "the public queue"


def first_line(text: str, limit: int = 120) -> str:
    """The first non-empty line a user wrote, safe to repeat inside one of our lines."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return inline(line, limit)


def quote(text: str, limit: int = 1000) -> str:
    """What a user wrote, as a block quote with its markup neutralised."""
    return quoted(text, limit)


def duration(seconds: float | None, *, exact: bool = True) -> str:
    """`45s`, `2m 05s`, `1h 02m`, `3d 4h`; `—` for no value. Whole seconds, rounded down, so a
    scripted 90-second wait reads exactly `1m 30s`. `exact=False` drops the seconds past the
    first minute (`2m`), for waits agents scan in lists."""
    if seconds is None:
        return "—"
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s" if exact else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def waited(seconds: float) -> str:
    """A wait in a list or a note: `45s`, `12m`, `1h 05m`."""
    return duration(seconds, exact=False)


def contact_label(conv: Conversation) -> str:
    return name_of(conv.contact_name, conv.contact_username)


# --- room notes ---------------------------------------------------------------------------------
def opening(conv: Conversation, text: str) -> str:
    return (
        f"Conversation #{conv.number} with {contact_label(conv)} in {where(conv.department)}.\n"
        f"{quote(text)}"
    )


def joined(agent: str) -> str:
    return f"@{agent} joined"


def with_comment(text: str, comment: str | None) -> str:
    return f"{text}: {inline(comment)}" if comment else f"{text}."


#: the comment a contact's close gets when the contact gave none (commands/close.py)
CONTACT_CLOSE_COMMENT = "Closed by the contact"


def closed_note(conv: Conversation, closed_by: str) -> str:
    """The room note of a close: who, their comment (made safe) and the tags. A contact who
    closed without a comment reads "Closed by the contact (@carol).", not the stored default
    comment repeated after their name."""
    comment = conv.comment
    if conv.closer == CONTACT and comment == CONTACT_CLOSE_COMMENT:
        text, comment = f"{CONTACT_CLOSE_COMMENT} (@{inline(closed_by)})", None
    else:
        text = f"Closed by @{inline(closed_by)}"
    if comment:
        text += f": {inline(comment)}"
    if conv.tags:
        text += f" (tags: {', '.join(inline(t) for t in conv.tags)})"
    return text if comment or conv.tags else text + "."


# --- agent notifications ------------------------------------------------------------------------
def new_chat(conv: Conversation, line: str, take_word: str) -> tuple[str, tuple[Attachment, ...]]:
    text = f"New chat #{conv.number} from {contact_label(conv)} in {where(conv.department)}"
    text += f": {line}" if line else "."
    button = Attachment(actions=(Action(text="Take it", msg=f"{take_word} {conv.number}"),))
    return text, (button,)


def queue_line(conv: Conversation, now: datetime, line: str) -> str:
    wait = waited(conv.queue_seconds(now))
    shown = f' "{line}"' if line else ""
    return (
        f"#{conv.number} {contact_label(conv)} · {where(conv.department)} · waiting {wait}{shown}"
    )
