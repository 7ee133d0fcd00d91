"""Build a `TranscriptData` for a conversation from the chat and the store.

The transcript is the conversation room's history (DESIGN: everything said in the case is a
native message of that room). The server's history is the source, because it carries what the
bot's own copy does not (quotes, file URLs, display names); the stored copy is the fallback when
the server cannot be asked. The bot's workflow notes are recognised by the system type the
workflow stored them with, and rendered as system messages.

Runs in the slow pool: image downloads and 100 history pages are fine there, never on the
event path.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.port import ChatPort
from bot.chat.types import Attachment, FileInfo, Message, User
from bot.domain import Conversation
from bot.services.transcripts.events import case_events
from bot.services.transcripts.model import (
    IMAGE_TYPES,
    TranscriptAttachment,
    TranscriptContact,
    TranscriptData,
    TranscriptMessage,
)
from bot.store.messages import MessageRepo, StoredFile, StoredMessage

log = logging.getLogger("omnicat.transcripts")

#: images larger than this are listed, not embedded (a transcript is not a photo album)
MAX_IMAGE_BYTES = 8 * 1024 * 1024
#: history page size; the server pages newest first and the client walks every page
HISTORY_PAGE = 500


def requester_timezone(user: User | None, default: str = "UTC") -> tzinfo | float | str:
    """The requesting agent's timezone: their Rocket.Chat `utcOffset` (hours, may be 5.5),
    else `transcripts.timezone`."""
    if user is not None and user.utc_offset is not None:
        return float(user.utc_offset)
    return default or "UTC"


@dataclass
class Collector:
    """`collect(conversation, timezone=…)` → `TranscriptData` (blocking: slow pool only)."""

    chat: ChatPort
    messages: MessageRepo
    site_name: str = "Omnicat"
    max_image_bytes: int = MAX_IMAGE_BYTES
    #: command prefixes: an agent's command line is no part of any transcript
    prefixes: tuple[str, ...] = ("/",)

    def collect(
        self,
        conv: Conversation,
        *,
        timezone: tzinfo | float | str = "UTC",
        contact_email: str | None = None,
        events: Iterable[Any] = (),
    ) -> TranscriptData:
        room_name = ""
        if conv.rid:
            try:
                room = self.chat.room_info(conv.rid)
                room_name = (room.name if room else None) or ""
            except RocketChatError:
                log.warning("no room info for #%s", conv.number, exc_info=True)
        agents = [f"@{a}" for a in dict.fromkeys((*conv.previous_agents, conv.agent)) if a]
        return TranscriptData(
            number=conv.number,
            room_name=room_name,
            site_name=self.site_name,
            contact=TranscriptContact(
                name=conv.contact_name, username=conv.contact_username, email=contact_email
            ),
            department=conv.department,
            agents=tuple(agents),
            tags=tuple(conv.tags),
            topic=conv.topic,
            created_at=conv.created_at,
            taken_at=conv.taken_at,
            closed_at=conv.closed_at,
            timezone=timezone,
            messages=tuple(
                m
                for m in self.room_messages(conv)
                if m.username == conv.contact_username or not self.is_command(m.text)
            ),
            events=case_events(events, conv.tags),
        )

    def is_command(self, text: str) -> bool:
        """A command line (`/take 3`): deleted from the room where the bot may, and never in
        a transcript either way."""
        line = text.lstrip()
        return any(
            line.startswith(p) and line[len(p) : len(p) + 1].isalpha() for p in self.prefixes
        )

    # --- messages ---------------------------------------------------------------------------
    def room_messages(self, conv: Conversation) -> list[TranscriptMessage]:
        if not conv.rid:
            return self._from_store(conv)
        stored = {m.id: m for m in self.messages.for_room(conv.rid, include_deleted=True)}
        try:
            history = self.chat.history(conv.rid, count=HISTORY_PAGE)
        except RocketChatError:
            log.warning(
                "history of #%s unavailable; using the stored copy", conv.number, exc_info=True
            )
            return self._from_store(conv)
        return [
            converted
            for message in history
            if (converted := self._from_wire(message, stored.get(message.id))) is not None
        ]

    def _from_wire(
        self, message: Message, stored: StoredMessage | None
    ) -> TranscriptMessage | None:
        if message.type is not None:
            # The server's own system lines (joined, archived, …): the workflow's notes say
            # what happened in words people read, so these would only repeat them.
            return None
        if stored is not None and stored.deleted:
            return None
        system = stored.type if stored is not None else None
        if system is None and message.author.id == self.chat.bot_user.id:
            system = "bot"  # the bot's answers in the room read as the workflow's voice
        quote, quote_author = _quote(message.attachments)
        return TranscriptMessage(
            ts=message.ts,
            username=message.author.username,
            text=message.text,
            display_name=message.alias or message.author.name,
            system=system,
            edited=message.edited_at is not None,
            tmid=message.tmid,
            quote=quote,
            quote_author=quote_author,
            attachments=tuple(self._attachments(message.files, message.attachments)),
        )

    def _from_store(self, conv: Conversation) -> list[TranscriptMessage]:
        rows = (
            self.messages.for_room(conv.rid)
            if conv.rid
            else self.messages.for_conversations([conv.number])
        )
        files: dict[str, list[StoredFile]] = {}
        if conv.rid:
            for f in self.messages.files(conv.rid):
                files.setdefault(f.msg_id, []).append(f)
        out = []
        for row in rows:
            if row.type in {"rm", "ul", "ujt", "ult"}:
                continue
            infos = [
                FileInfo(id=f.file_id, name=f.name, type=f.type, size=f.size, url=f.url)
                for f in files.get(row.id, ())
            ]
            out.append(
                TranscriptMessage(
                    ts=row.ts,
                    username=row.author_username,
                    text=row.text,
                    system=row.type,
                    edited=row.edited,
                    tmid=row.tmid,
                    attachments=tuple(self._attachments(infos, ())),
                )
            )
        return out

    # --- attachments ------------------------------------------------------------------------
    def _attachments(
        self, files: Sequence[FileInfo], attachments: Iterable[Attachment]
    ) -> list[TranscriptAttachment]:
        attachments = list(attachments)
        # RC's `files[]` carries no URL; the file's attachment does (`title_link`, `image_url`).
        links = {
            att.title: att.image_url or att.title_link
            for att in attachments
            if att.title and (att.image_url or att.title_link)
        }
        out = [
            self._file(f.name, f.type, f.size or None, f.url or links.get(f.name)) for f in files
        ]
        if out:
            return out
        # Servers that send only the attachment form of a file message.
        for att in attachments:
            if att.type == "file" and att.title:
                mime = att.image_type or "application/octet-stream"
                url = att.image_url or att.title_link
                out.append(self._file(att.title, mime, att.image_size, url))
        return out

    def _file(
        self, name: str, mime: str, size: int | None, url: str | None
    ) -> TranscriptAttachment:
        data = None
        if url and mime.lower() in IMAGE_TYPES and (size or 0) <= self.max_image_bytes:
            try:
                data = self.chat.download(url)
            except RocketChatError:
                log.warning("cannot download %s for a transcript; listing it", name, exc_info=True)
            if data is not None and len(data) > self.max_image_bytes:
                data = None
        return TranscriptAttachment(name=name, mime_type=mime, size=size, data=data)


def _quote(attachments: Iterable[Attachment]) -> tuple[str | None, str | None]:
    """RC quotes and replies-in-chat are attachments with a `message_link`."""
    for att in attachments:
        if att.message_link and (att.text or att.description):
            return (att.text or att.description or "").strip() or None, att.author_name
    return None, None


def contact_email(services: Any, conv: Conversation) -> str | None:
    """The contact's e-mail address: the stored contact record, else the server user."""
    contact = services.repo.contact(conv.contact_username)
    if contact is not None and contact.email:
        return str(contact.email)
    user = services.directory.user(conv.contact_username)
    return user.email if user is not None else None
