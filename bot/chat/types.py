"""Typed views of Rocket.Chat's wire objects.

Wire JSON is parsed here, once, at the edge: nothing above the transport sees raw dicts or
`{"$date": ms}`. Parsers are lenient (unknown fields are ignored, missing optional fields get
defaults) because a garbage frame from the server must never crash the bot; a frame that lacks
what makes it usable raises `WireFormatError`, which the transport logs and drops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class WireFormatError(ValueError):
    """A wire object lacks a field we cannot do without."""


def parse_date(value: Any) -> datetime | None:
    """DDP `{"$date": ms}`, REST ISO strings or epoch ms, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, dict) and "$date" in value:
        value = value["$date"]
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_date(int(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def to_wire_date(value: datetime) -> dict[str, int]:
    """A datetime as DDP EJSON."""
    return {"$date": int(value.timestamp() * 1000)}


def to_iso(value: datetime) -> str:
    """A datetime as Rocket.Chat's REST ISO string (millisecond precision, `Z`)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user as messages carry it (`u`, `editedBy`, `mentions[]`)."""

    id: str
    username: str
    name: str | None = None

    @classmethod
    def from_wire(cls, data: Any) -> UserRef:
        data = _dict(data)
        uid, username = _str(data.get("_id")), _str(data.get("username"))
        if not uid and not username:
            raise WireFormatError("user reference without _id or username")
        return cls(id=uid or "", username=username or "", name=_str(data.get("name")))


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

    @classmethod
    def from_wire(cls, data: Any) -> FileInfo:
        data = _dict(data)
        fid = _str(data.get("_id"))
        if not fid:
            raise WireFormatError("file without _id")
        size = data.get("size")
        return cls(
            id=fid,
            name=_str(data.get("name")) or fid,
            type=_str(data.get("type")) or "application/octet-stream",
            size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
            url=_str(data.get("url")),
            description=_str(data.get("description")),
            uploaded_at=parse_date(data.get("uploadedAt")),
            user_id=_str(data.get("userId")),
        )


@dataclass(frozen=True, slots=True)
class Action:
    """A message-attachment button (`actions[]`)."""

    text: str
    msg: str | None = None
    url: str | None = None
    msg_in_chat_window: bool = True

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"type": "button", "text": self.text}
        if self.url:
            wire["url"] = self.url
        if self.msg is not None:
            wire["msg"] = self.msg
            wire["msg_in_chat_window"] = self.msg_in_chat_window
            wire["msg_processing_type"] = "sendMessage"
        return wire


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

    @classmethod
    def from_wire(cls, data: Any) -> Attachment:
        data = _dict(data)
        size = data.get("image_size")
        actions = tuple(
            Action(
                text=_str(a.get("text")) or "",
                msg=_str(a.get("msg")),
                url=_str(a.get("url")),
                msg_in_chat_window=bool(a.get("msg_in_chat_window", True)),
            )
            for a in _list(data.get("actions"))
            if isinstance(a, dict)
        )
        return cls(
            title=_str(data.get("title")),
            title_link=_str(data.get("title_link")),
            text=_str(data.get("text")),
            description=_str(data.get("description")),
            color=_str(data.get("color")),
            type=_str(data.get("type")),
            image_url=_str(data.get("image_url")),
            image_type=_str(data.get("image_type")),
            image_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            audio_url=_str(data.get("audio_url")),
            video_url=_str(data.get("video_url")),
            message_link=_str(data.get("message_link")),
            author_name=_str(data.get("author_name")),
            file_id=_str(data.get("fileId")),
            actions=actions,
        )

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {}
        for key, value in (
            ("title", self.title),
            ("title_link", self.title_link),
            ("text", self.text),
            ("description", self.description),
            ("color", self.color),
            ("type", self.type),
            ("image_url", self.image_url),
            ("author_name", self.author_name),
            ("message_link", self.message_link),
        ):
            if value is not None:
                wire[key] = value
        if self.actions:
            wire["actions"] = [a.to_wire() for a in self.actions]
        return wire


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

    @classmethod
    def from_wire(cls, data: Any) -> Visitor:
        data = _dict(data)
        vid, username = _str(data.get("_id")), _str(data.get("username"))
        if not vid or not username:
            raise WireFormatError("visitor without _id or username")
        emails = [e.get("address") for e in _list(data.get("visitorEmails")) if isinstance(e, dict)]
        phones = [p.get("phoneNumber") for p in _list(data.get("phone")) if isinstance(p, dict)]
        email = next((e for e in emails if isinstance(e, str) and e), None)
        phone = next((p for p in phones if isinstance(p, str) and p), None)
        return cls(
            id=vid,
            username=username,
            token=_str(data.get("token")),
            name=_str(data.get("name")),
            email=email or _str(data.get("email")),
            phone=phone if phone else (_str(data.get("phone")) or None),
            status=_str(data.get("status")),
        )


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

    @classmethod
    def from_wire(cls, data: Any, meta: Any = None) -> Message:
        data, meta = _dict(data), _dict(meta)
        mid, rid = _str(data.get("_id")), _str(data.get("rid"))
        if not mid or not rid:
            raise WireFormatError("message without _id or rid")
        ts = parse_date(data.get("ts"))
        if ts is None:
            raise WireFormatError(f"message {mid} without a valid ts")
        edited_by = data.get("editedBy")
        files = [data["file"]] if isinstance(data.get("file"), dict) else []
        files = _list(data.get("files")) or files
        extra = {k: data[k] for k in ("transferData", "comment", "customFields") if k in data}
        return cls(
            id=mid,
            rid=rid,
            text=_str(data.get("msg")) or "",
            ts=ts,
            author=UserRef.from_wire(data.get("u")),
            updated_at=parse_date(data.get("_updatedAt")),
            type=_str(data.get("t")) or None,
            edited_at=parse_date(data.get("editedAt")),
            edited_by=UserRef.from_wire(edited_by) if isinstance(edited_by, dict) else None,
            tmid=_str(data.get("tmid")),
            alias=_str(data.get("alias")),
            attachments=tuple(
                Attachment.from_wire(a)
                for a in _list(data.get("attachments"))
                if isinstance(a, dict)
            ),
            files=tuple(_parse_many(FileInfo.from_wire, files)),
            mentions=tuple(_parse_many(UserRef.from_wire, _list(data.get("mentions")))),
            bot=bool(data.get("bot")),
            room_type=_str(meta.get("roomType")),
            room_name=_str(meta.get("roomName")),
            room_participant=meta.get("roomParticipant")
            if isinstance(meta.get("roomParticipant"), bool)
            else None,
            extra=extra,
            from_visitor=bool(_str(data.get("token"))),
        )


def _parse_many(parse: Any, items: list[Any]) -> list[Any]:
    parsed = []
    for item in items:
        try:
            parsed.append(parse(item))
        except WireFormatError:
            continue
    return parsed


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

    @classmethod
    def from_wire(cls, data: Any) -> User:
        data = _dict(data)
        uid, username = _str(data.get("_id")), _str(data.get("username"))
        if not uid or not username:
            raise WireFormatError("user without _id or username")
        offset = data.get("utcOffset")
        return cls(
            id=uid,
            username=username,
            name=_str(data.get("name")),
            roles=tuple(r for r in _list(data.get("roles")) if isinstance(r, str)),
            status=_str(data.get("status")) or "offline",
            utc_offset=float(offset)
            if isinstance(offset, int | float) and not isinstance(offset, bool)
            else None,
            emails=tuple(
                e["address"]
                for e in _list(data.get("emails"))
                if isinstance(e, dict) and isinstance(e.get("address"), str)
            ),
            active=bool(data.get("active", True)),
            type=_str(data.get("type")) or "user",
        )


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

    @property
    def is_direct(self) -> bool:
        return self.type == "d"

    @property
    def is_livechat(self) -> bool:
        return self.type == "l"

    @classmethod
    def from_wire(cls, data: Any) -> Room:
        data = _dict(data)
        rid = _str(data.get("_id")) or _str(data.get("rid"))
        if not rid:
            raise WireFormatError("room without _id")
        owner = data.get("u")
        count = data.get("usersCount")
        visitor = data.get("v")
        served = data.get("servedBy")
        source = _dict(data.get("source"))
        return cls(
            id=rid,
            type=_str(data.get("t")) or "c",
            name=_str(data.get("name")),
            fname=_str(data.get("fname")),
            topic=_str(data.get("topic")),
            usernames=tuple(u for u in _list(data.get("usernames")) if isinstance(u, str)),
            user_count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
            read_only=bool(data.get("ro")),
            archived=bool(data.get("archived")),
            owner=UserRef.from_wire(owner) if isinstance(owner, dict) else None,
            visitor=_visitor(visitor),
            served_by=UserRef.from_wire(served) if isinstance(served, dict) else None,
            department_id=_str(data.get("departmentId")),
            source_type=_str(source.get("type")),
            # Rocket.Chat unsets `open` when it closes a livechat room
            open=data.get("open") is True if _str(data.get("t")) == "l" else True,
            closer=_str(data.get("closer")),
        )


def _visitor(data: Any) -> Visitor | None:
    if not isinstance(data, dict):
        return None
    try:
        return Visitor.from_wire(data)
    except WireFormatError:
        return None


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

    @classmethod
    def from_wire(cls, data: Any) -> Subscription:
        data = _dict(data)
        sid, rid = _str(data.get("_id")), _str(data.get("rid"))
        if not sid or not rid:
            raise WireFormatError("subscription without _id or rid")
        return cls(
            id=sid,
            rid=rid,
            type=_str(data.get("t")) or "c",
            name=_str(data.get("name")),
            open=bool(data.get("open", True)),
            roles=tuple(r for r in _list(data.get("roles")) if isinstance(r, str)),
            visitor=_visitor(data.get("v")),
            department_id=_str(data.get("department")),
        )
