"""The one way text leaves the bot: within the server's size limit, and never lost in silence.

Rocket.Chat refuses a message longer than its `Message_MaxAllowedSize` setting (default 5000):
REST answers `error-message-size-exceeded`, and DDP `sendMessage` may swallow the refusal
(the sender sees an ephemeral notice, the bot nothing). So `SizedChat` wraps the chat port:
it reads the limit once from the server, splits longer text at line breaks (else at spaces,
else anywhere) into several messages, and logs every part it could not deliver before raising.
Everything else passes straight through to the wrapped port.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.types import Attachment, Message

log = logging.getLogger("omnicat.sending")

#: Rocket.Chat's default `Message_MaxAllowedSize`
DEFAULT_MAX_SIZE = 5000
#: the smallest limit we accept from a server: below it the setting is surely misread
_MIN_SIZE = 200
#: what a cut part ends with and its continuation starts with
CONTINUED = "…"


def split_text(text: str, limit: int) -> list[str]:
    """`text` in parts of at most `limit` characters, cut after a line break where one is in
    the last half of a part, else after a space, else anywhere (a cut mid-line is marked `…`).
    Joining the parts (with line breaks where they were cut at one) gives the text back."""
    if len(text) <= limit:
        return [text]
    room = max(1, limit - len(CONTINUED) * 2)
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:room]
        cut = window.rfind("\n")
        if cut >= room // 2:
            parts.append(rest[:cut])
            rest = rest[cut + 1 :]
            continue
        cut = window.rfind(" ")
        if cut < room // 2:
            cut = room
        parts.append(rest[:cut].rstrip() + CONTINUED)
        rest = CONTINUED + rest[cut:].lstrip(" ")
    parts.append(rest)
    return [p for p in parts if p.strip()] or [text[:limit]]


def page_lines(
    lines: Sequence[str], *, page: int, per_page: int, more: Callable[[int, int], str]
) -> tuple[list[str], int]:
    """Page `page` (1-based) of `lines` and the number of pages; when pages follow, the last
    line is `more(remaining, next_page)` (e.g. "…and 30 more: `/queue 2`")."""
    pages = max(1, -(-len(lines) // per_page))
    page = min(max(1, page), pages)
    start = (page - 1) * per_page
    shown = list(lines[start : start + per_page])
    remaining = len(lines) - start - len(shown)
    if remaining > 0:
        shown.append(more(remaining, page + 1))
    return shown, pages


class SizedChat:
    """A chat port whose `send`, `post` and `dm` fit the server's message size limit."""

    def __init__(self, chat: Any, *, max_size: int | None = None) -> None:
        self.chat = chat
        self._max_size = max_size
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # everything but sending is the wrapped port's (bot_user, invite, history, …)
        return getattr(self.chat, name)

    # --- the limit ------------------------------------------------------------------------
    @property
    def max_size(self) -> int:
        """The server's `Message_MaxAllowedSize`, read once (the default when unreadable)."""
        if self._max_size is None:
            with self._lock:
                if self._max_size is None:
                    self._max_size = self._read_limit()
        return self._max_size

    def _read_limit(self) -> int:
        reader = getattr(self.chat, "max_message_size", None)
        value: Any = None
        if callable(reader):
            try:
                value = reader()
            except RocketChatError as exc:
                log.info("cannot read Message_MaxAllowedSize (%s); using %d", exc, DEFAULT_MAX_SIZE)
        if isinstance(value, int) and not isinstance(value, bool) and value >= _MIN_SIZE:
            return value
        return DEFAULT_MAX_SIZE

    def parts(self, text: str) -> list[str]:
        return split_text(text, self.max_size)

    # --- sending --------------------------------------------------------------------------
    def send(self, rid: str, text: str, *, tmid: str | None = None) -> Message | None:
        """The first stored part (None when the server stored nothing it told us about)."""
        sent = self.send_parts(rid, text, tmid=tmid)
        return sent[0] if sent else None

    def send_parts(self, rid: str, text: str, *, tmid: str | None = None) -> list[Message]:
        """Every part of `text` in order; the ones the server stored, returned."""
        out: list[Message] = []
        parts = self.parts(text)
        for index, part in enumerate(parts):
            try:
                message = (
                    self.chat.send(rid, part, tmid=tmid) if tmid else self.chat.send(rid, part)
                )
            except RocketChatError as exc:
                _log_lost(rid, index, len(parts), text, exc)
                raise
            if message is not None:
                out.append(message)
        return out

    def send_soon(
        self,
        rid: str,
        text: str,
        *,
        tmid: str | None = None,
        lost: Callable[[RocketChatError], None],
    ) -> None:
        """Every part of `text` in order; the last one not waited for (`ChatPort.send_soon`).
        A part that is lost ends the text, as with `send`."""
        parts = self.parts(text)
        for index, part in enumerate(parts[:-1]):
            try:
                self.chat.send(rid, part, tmid=tmid) if tmid else self.chat.send(rid, part)
            except RocketChatError as exc:
                _log_lost(rid, index, len(parts), text, exc)
                lost(exc)
                return

        def lost_last(exc: RocketChatError) -> None:
            _log_lost(rid, len(parts) - 1, len(parts), text, exc)
            lost(exc)

        self.chat.send_soon(rid, parts[-1], tmid=tmid, lost=lost_last)

    def post(
        self,
        rid: str,
        text: str,
        *,
        attachments: Sequence[Attachment] = (),
        alias: str | None = None,
        tmid: str | None = None,
    ) -> Message:
        """Rich message; the attachments (and buttons) go with the last part."""
        parts = self.parts(text)
        message: Message | None = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                sent = self.chat.post(
                    rid, part, attachments=attachments if last else (), alias=alias, tmid=tmid
                )
            except RocketChatError as exc:
                _log_lost(rid, index, len(parts), text, exc)
                raise
            message = message or sent
        assert message is not None
        return message

    def dm(self, username: str, text: str, *, attachments: Sequence[Attachment] = ()) -> Message:
        parts = self.parts(text)
        message: Message | None = None
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                sent = self.chat.dm(username, part, attachments=attachments if last else ())
            except RocketChatError as exc:
                _log_lost(f"@{username}", index, len(parts), text, exc)
                raise
            message = message or sent
        assert message is not None
        return message


def _log_lost(rid: str, index: int, count: int, text: str, exc: RocketChatError) -> None:
    which = f"part {index + 1} of {count} of a" if count > 1 else "a"
    log.warning("lost %s %d-character message to %s: %s", which, len(text), rid, exc, exc_info=True)


def sized(chat: Any, *, max_size: int | None = None) -> Any:
    """`chat` wrapped once (wrapping a `SizedChat` again returns it)."""
    if chat is None or isinstance(chat, SizedChat):
        return chat
    return SizedChat(chat, max_size=max_size)
