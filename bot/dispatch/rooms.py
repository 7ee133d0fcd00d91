"""What the dispatcher knows about rooms: their types, their cursors, and who the bot is.

`RoomBook` answers "is this the bot's own message", "what kind of room is this" (`dm`,
`conversation`, `other`) and "is this message stale" for the middleware and the listener; it is
fed by subscriptions, by the messages themselves and by catch-up. Both per-room tables are
bounded (issue 20): a flood of distinct rooms evicts the least recently used entries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.chat.port import ChatPort
from bot.chat.types import Message
from bot.domain.bounded import BoundedCache

ROOM_DM, ROOM_CONVERSATION, ROOM_OTHER = "dm", "conversation", "other"

#: how far out of order a message may arrive and still count as new (see `RoomBook.is_stale`)
STALE_GRACE = timedelta(minutes=1)


def cursor_ts(ts: datetime) -> datetime:
    """A message time fit to be a room's cursor: never beyond the wall clock.

    One message stamped in the future (a server clock that jumped, a garbage frame) would
    otherwise carry the cursor there, and from then on every real message of the room would
    look stale and be ignored, and catch-up would ask for history after that future time: the
    room would go silent for good. Clamped to "now", not a little later: messages written after
    it (also while the bot is down) are then newer and caught up. A server clock ahead of ours
    only makes catch-up replay a few seconds twice (deduplicated). The wall clock, not
    `App.clock`: tests fake the latter.
    """
    now = datetime.now(UTC)
    return ts if ts <= now else now


def revision_of(message: Message) -> str:
    """The content revision of a message, for de-duplication.

    Not `Message.version`: reactions, pins and read receipts bump `_updatedAt` and re-emit the
    message, and those must not look like a new revision (a reacted-to `/take 3` must not run
    again). Only an edit or a deletion makes a new revision.
    """
    if message.is_deleted:
        return "rm"
    if message.edited_at is not None:
        return f"e{message.edited_at.timestamp():.3f}"
    return "0"


#: rooms whose type is remembered
ROOM_TYPES_KEPT = 10_000
#: rooms whose cursor is kept in memory; an evicted room's cursor is read back from the store
ROOM_CURSORS_KEPT = 10_000
#: a room the store has no cursor for (remembered, so a new room costs one read, not one each)
_NO_CURSOR = datetime.min.replace(tzinfo=UTC)


def stored_cursor_of(store: Any) -> Callable[[str], datetime | None]:
    """`rid -> the store's cursor of that room` (None: none stored, or a store without them)."""
    read = getattr(store, "cursor", None)
    if read is None:
        return lambda rid: None
    return lambda rid: getattr(read(rid), "last_ts", None)


class RoomBook:
    def __init__(
        self,
        chat: Callable[[], ChatPort | None],
        is_conversation_room: Callable[[str], bool] = lambda rid: False,
        stored_cursor: Callable[[str], datetime | None] = lambda rid: None,
    ) -> None:
        self._chat = chat
        self.is_conversation_room = is_conversation_room
        self._stored_cursor = stored_cursor
        self._lock = threading.Lock()
        # bounded (issue 20): the types of the ROOM_TYPES_KEPT rooms seen last (a miss is
        # answered from the message itself, or by the DM-id rule below)
        self._types: BoundedCache[str, str] = BoundedCache(ROOM_TYPES_KEPT)
        # bounded (issue 20): the cursors of the ROOM_CURSORS_KEPT rooms seen last. An evicted
        # room's cursor is read back from the store (`stored_cursor`), which is never ahead of
        # the one in memory (the bot's own messages move only the latter) and is the one the
        # processed marks are pruned behind: a re-emitted message older than it minus
        # STALE_GRACE is still ignored (its mark may be gone), a newer one is still
        # de-duplicated by its mark, so an eviction neither repeats nor loses a message.
        self._cursors: BoundedCache[str, datetime] = BoundedCache(ROOM_CURSORS_KEPT)

    # --- room types -----------------------------------------------------------------------------
    def set_type(self, rid: str, room_type: str) -> None:
        with self._lock:
            self._types[rid] = room_type

    def forget(self, rid: str) -> None:
        with self._lock:
            self._types.pop(rid, None)

    def kind(self, message: Message, in_conversation: bool | None = None) -> str:
        """`dm`, `conversation` or `other`; `in_conversation` when the caller asked already."""
        if in_conversation is None:
            in_conversation = self.is_conversation_room(message.rid)
        if in_conversation:
            return ROOM_CONVERSATION
        with self._lock:
            known = self._types.get(message.rid)
            if message.room_type:
                self._types[message.rid] = message.room_type
        room_type = message.room_type or known
        if room_type == "d":
            return ROOM_DM
        chat = self._chat()
        if room_type is None and chat is not None:
            # history messages lack the room type; a 1:1 DM's rid holds both user ids
            bot_id = chat.bot_user.id
            if bot_id and bot_id in message.rid and len(message.rid) > len(bot_id):
                return ROOM_DM
        return ROOM_OTHER

    def is_own(self, message: Message) -> bool:
        chat = self._chat()
        if chat is None:
            return False
        me = chat.bot_user
        if me.id and message.author.id:
            return me.id == message.author.id
        return bool(me.username) and me.username == message.author.username

    # --- cursors --------------------------------------------------------------------------------
    def note_cursor(self, rid: str, ts: datetime) -> None:
        ts = cursor_ts(ts)
        with self._lock:
            known = self._cursors.get(rid)
            if known is None or ts > known:
                self._cursors[rid] = ts

    def cursor(self, rid: str) -> datetime | None:
        """The room's cursor: the one in memory, else the store's (then kept in memory)."""
        with self._lock:
            known = self._cursors.get(rid)
        if known is None:
            stored = self._stored_cursor(rid)
            with self._lock:
                known = self._cursors.get(rid)  # noted meanwhile: that one is newer
                if known is None:
                    known = cursor_ts(stored) if stored is not None else _NO_CURSOR
                    self._cursors[rid] = known
        return None if known is _NO_CURSOR else known

    def is_stale(self, message: Message) -> bool:
        """A message from well before this room's cursor that we never processed.

        Reactions, pins and thread replies re-emit the parent message unchanged; for a message
        older than our records (before the first start, or pruned) that would look new, and a
        reacted-to `/take 3` from last month must not run. The grace covers messages delivered
        slightly out of order.
        """
        cursor = self.cursor(message.rid)
        return cursor is not None and message.ts < cursor - STALE_GRACE
