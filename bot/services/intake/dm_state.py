"""What the `dm` and `channel` intakes hold, declared once for the parts `Intake` is made of
(`bot.services.intake.dm`), and how they answer a contact: a DM, or the throttled pointer to the
room of their open conversation."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from bot.chat.errors import RocketChatError
from bot.domain import Conversation
from bot.domain.bounded import BoundedCache

if TYPE_CHECKING:
    from bot.chat.types import Message

log = logging.getLogger("omnicat.workflow.intake")

POINTER_EVERY = 60.0  # seconds between "your conversation is in …" pointers per contact

#: contacts whose last pointer time is kept
POINTED_KEPT = 10_000


class IntakeState:
    """The state of `Intake`; `DepartmentChoice` and `CaseRoomOpening` build on it."""

    def __init__(
        self, services: Any, *, livechat: Any = None, monotonic: Any = time.monotonic
    ) -> None:
        """`services`: a `bot.services.build.Core`; `livechat`: the `livechat` intake, which
        opens a livechat room's conversation when a message comes before the room's event."""
        self.services = services
        self.livechat = livechat
        # bounded (issue 20): when each contact was last pointed to their room, only as long
        # as it throttles (POINTER_EVERY), at most POINTED_KEPT contacts
        self._pointed: BoundedCache[str, float] = BoundedCache(POINTED_KEPT, ttl=POINTER_EVERY)
        self._monotonic = monotonic
        # rid → department, resolved lazily; only configured intake channels are stored
        self._channels: dict[str, str | None] = {}
        self._opening: set[int] = set()  # numbers whose room this process is opening now

    if TYPE_CHECKING:  # made by `CaseRoomOpening`; the department's answer opens the case

        def start(
            self,
            first: Message,
            department: str | None,
            *,
            source: str,
            answer_rid: str | None = None,
        ) -> Conversation | None: ...

    # --- answering the contact --------------------------------------------------------------------
    def _send_dm(self, username: str, rid: str | None, text: str) -> None:
        try:
            if rid:
                self.services.directory.chat.send(rid, text)
            else:
                self.services.directory.chat.dm(username, text)
        except RocketChatError:
            log.warning("cannot tell @%s", username, exc_info=True)

    def _point(self, conv: Conversation, rid: str, *, force: bool) -> None:
        text = (
            f"Your conversation #{conv.number} is open in {self.services.effects.room_link(conv)}. "
            "Please write there."
        )
        if force:
            self._pointed[conv.contact_username] = self._monotonic()
            self._send_dm(conv.contact_username, rid, text)
        else:
            self._throttled(conv.contact_username, rid, text)

    def _throttled(self, username: str, rid: str, text: str) -> None:
        now = self._monotonic()
        last = self._pointed.get(username)
        if last is not None and now - last < POINTER_EVERY:
            return
        self._pointed[username] = now
        self._send_dm(username, rid, text)
