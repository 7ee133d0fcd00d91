"""The chat-level types the bot speaks: messages, users, rooms, files, attachments.

No wire JSON here: `bot.rocketchat.wire` builds these from the server's frames, once, at the
edge, so nothing above the transport sees raw dicts or `{"$date": ms}`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user as messages carry it (`u`, `editedBy`, `mentions[]`)."""

    id: str
    username: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class FileInfo:
    """An uploaded file (`file`, `files[]`, `groups.files`)."""

    id: str
    name: str
    type: str = "application/octet-stream"
    size: int = 0
    url: str | None = None
    description: str | None = None
    uploaded_at: datetime | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """A message-attachment button (`actions[]`)."""

    text: str
    msg: str | None = None
    url: str | None = None
    msg_in_chat_window: bool = True


@dataclass(frozen=True, slots=True)
class Attachment:
    """A Slack-style message attachment, including file attachments (`type: "file"`)."""

    title: str | None = None
    title_link: str | None = None
    text: str | None = None
    description: str | None = None
    color: str | None = None
    type: str | None = None
    image_url: str | None = None
    image_type: str | None = None
    image_size: int | None = None
    audio_url: str | None = None
    video_url: str | None = None
    message_link: str | None = None
    author_name: str | None = None
    file_id: str | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Visitor:
    """The visitor of a livechat room (room `v`, `livechat/visitors.info`): not a server user.

    `token` is the visitor's credential for the visitor REST routes: kept in memory only as
    long as the wire object lives, never stored or logged."""

    id: str
    username: str
    token: str | None = field(default=None, repr=False)
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message. `type` is the system type (`t`), None for ordinary messages.

    `room_type`, `room_name` and `room_participant` come from the `__my_messages__` metadata (the
    second element of `args`) when the message arrived that way, else from whatever the caller knew.
    """

    id: str
    rid: str
    text: str
    ts: datetime
    author: UserRef
    updated_at: datetime | None = None
    type: str | None = None
    edited_at: datetime | None = None
    edited_by: UserRef | None = None
    tmid: str | None = None
    alias: str | None = None
    attachments: tuple[Attachment, ...] = ()
    files: tuple[FileInfo, ...] = ()
    mentions: tuple[UserRef, ...] = ()
    bot: bool = False
    room_type: str | None = None
    room_name: str | None = None
    room_participant: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: set on a livechat visitor's messages (RC stores the visitor's token on each one)
    from_visitor: bool = False

    @property
    def is_system(self) -> bool:
        return self.type is not None

    @property
    def is_edit(self) -> bool:
        return self.edited_at is not None

    @property
    def is_deleted(self) -> bool:
        return self.type == "rm"

    @property
    def version(self) -> tuple[str, float]:
        """Identity of this revision: a message is re-emitted whole on every change."""
        stamp = self.edited_at or self.updated_at or self.ts
        return (self.id, stamp.timestamp())


@dataclass(frozen=True, slots=True)
class User:
    """A server user (`me`, `users.info`)."""

    id: str
    username: str
    name: str | None = None
    roles: tuple[str, ...] = ()
    status: str = "offline"
    utc_offset: float | None = None
    emails: tuple[str, ...] = ()
    active: bool = True
    type: str = "user"

    @property
    def ref(self) -> UserRef:
        return UserRef(self.id, self.username, self.name)

    @property
    def display_name(self) -> str:
        return self.name or self.username

    @property
    def email(self) -> str | None:
        return self.emails[0] if self.emails else None


@dataclass(frozen=True, slots=True)
class Room:
    """A room (`t`: `c` channel, `p` private group, `d` direct, `l` livechat)."""

    id: str
    type: str
    name: str | None = None
    fname: str | None = None
    topic: str | None = None
    usernames: tuple[str, ...] = ()
    user_count: int = 0
    read_only: bool = False
    archived: bool = False
    owner: UserRef | None = None
    # --- livechat rooms (`t: 'l'`) only --------------------------------------------------
    visitor: Visitor | None = None
    served_by: UserRef | None = None
    department_id: str | None = None
    source_type: str | None = None  # `source.type`: widget, api, email, sms, app, …
    open: bool = True
    closer: str | None = None  # who closed it: `visitor` or `user`
    #: the visitor's answers to the widget's survey (`surveyFeedback`, set by
    #: `livechat/room.survey`): (name, value) pairs such as ("satisfaction", "4")
    survey_feedback: tuple[tuple[str, str], ...] = ()

    @property
    def is_direct(self) -> bool:
        return self.type == "d"

    @property
    def is_livechat(self) -> bool:
        return self.type == "l"


@dataclass(frozen=True, slots=True)
class Subscription:
    """A user's membership of a room (`subscriptions.get`, `subscriptions-changed`)."""

    id: str
    rid: str
    type: str
    name: str | None = None
    open: bool = True
    roles: tuple[str, ...] = ()
    #: livechat subscriptions (`t: 'l'`): the room's visitor and Rocket.Chat department id
    visitor: Visitor | None = None
    department_id: str | None = None
