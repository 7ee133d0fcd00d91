"""The narrow chat port that handlers and services use to act on the chat.

Handlers never touch the wire: they call these methods. The real implementation is
`bot.rocketchat.client.RocketChatClient`; tests of handlers may use `tests.fakes.FakeChat`.
Every method raises only `bot.chat.errors.RocketChatError` subclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from bot.chat.errors import RocketChatError
from bot.chat.types import (
    Attachment,
    FileInfo,
    Message,
    Room,
    Subscription,
    User,
    Visitor,
)


class ChatPort(Protocol):
    bot_user: User

    # --- messages -------------------------------------------------------------------------
    def send(self, rid: str, text: str, *, tmid: str | None = None) -> Message | None:
        """Plain text reply (DDP `sendMessage`, the fast path)."""

    def send_soon(
        self,
        rid: str,
        text: str,
        *,
        tmid: str | None = None,
        lost: Callable[[RocketChatError], None],
    ) -> None:
        """`send` for a caller that needs nothing back: the server's answer may be awaited
        later, as a gate of the event being handled (`bot.chat.gates`); `lost(error)` when
        the message cannot be delivered (instead of raising)."""

    def post(
        self,
        rid: str,
        text: str,
        *,
        attachments: Sequence[Attachment] = (),
        alias: str | None = None,
        tmid: str | None = None,
    ) -> Message:
        """Rich message (REST `chat.postMessage`): attachments, action buttons, alias."""

    def update_message(self, rid: str, msg_id: str, text: str) -> Message: ...

    def delete_message(self, rid: str, msg_id: str) -> None: ...

    def get_message(self, msg_id: str) -> Message | None: ...

    def history(
        self,
        rid: str,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        count: int = 100,
    ) -> list[Message]:
        """Messages of a room, **oldest first**, newer than `oldest` (inclusive), all pages."""

    # --- direct messages ------------------------------------------------------------------
    def dm_room(self, username: str) -> str:
        """The rid of the bot's DM with `username` (created when missing, cached)."""

    def dm(
        self, username: str, text: str, *, attachments: Sequence[Attachment] = ()
    ) -> Message: ...

    # --- rooms ----------------------------------------------------------------------------
    def create_group(self, name: str, members: Sequence[str] = (), *, topic: str = "") -> Room: ...

    def room_info(self, rid: str) -> Room | None: ...

    def invite(self, rid: str, user_id: str) -> None: ...

    def kick(self, rid: str, user_id: str) -> None: ...

    def archive(self, rid: str) -> None: ...

    def unarchive(self, rid: str) -> None:
        """For a note in a closed case's room (a transcript was e-mailed); archive again after."""

    def set_topic(self, rid: str, topic: str) -> None: ...

    def members(self, rid: str) -> list[User]: ...

    def files(self, rid: str) -> list[FileInfo]: ...

    def subscriptions(self) -> list[Subscription]: ...

    # --- files ----------------------------------------------------------------------------
    def upload(
        self,
        rid: str,
        data: bytes,
        filename: str,
        mime: str,
        *,
        message: str = "",
        tmid: str | None = None,
    ) -> Message:
        """`rooms.media` + `rooms.mediaConfirm`, falling back to `rooms.upload` on 404; `tmid`:
        the file message is a reply in that thread."""

    def download(self, url: str) -> bytes: ...

    # --- users ----------------------------------------------------------------------------
    def user(self, *, username: str | None = None, user_id: str | None = None) -> User | None: ...

    def presence(self, user_id: str) -> str:
        """`online`, `away`, `busy` or `offline`."""

    # --- livechat rooms (`t: 'l'`; the bot is their bot agent) -----------------------------
    def livechat_set_available(self) -> str:
        """`livechat/agent.status {status: available}`; raises with Rocket.Chat's key
        (`error-business-hours-are-closed`, `error-not-allowed`)."""

    def livechat_open_rooms(self) -> list[Room]:
        """The open livechat rooms the bot serves, all pages."""

    def livechat_room(self, rid: str) -> Room | None:
        """The room now (`servedBy`, `open`), not a cached copy."""

    def livechat_add_agent(self, rid: str, username: str) -> None:
        """Add a human to the room (`addUsersToRoom`, else `/invite`, checked)."""

    def livechat_forward(self, rid: str, user_id: str, comment: str | None = None) -> None:
        """`livechat/room.forward`: the target serves; everyone else leaves the room."""

    def livechat_forward_department(self, rid: str, department_id: str) -> None:
        """`livechat/room.forward` to a department: everyone leaves; its bot agent (or next
        agent) takes the room. Moves out agents a forward to them cannot (offline)."""

    def livechat_join(self, rid: str) -> None:
        """The bot subscribes to the room again (`livechat/room.join`)."""

    def livechat_close(self, rid: str, comment: str, tags: Sequence[str] = ()) -> None:
        """`livechat/room.closeByUser`: ends the visitor's chat."""

    def visitor(self, visitor_id: str) -> Visitor | None:
        """`livechat/visitors.info` (e-mail, phone), None when unavailable."""

    def livechat_department_name(self, department_id: str) -> str | None:
        """A Rocket.Chat department's name (`livechat/department/:id`), None when unknown."""
