"""Rocket.Chat's wire JSON to and from the chat-level types of `bot.chat.types`.

Wire JSON is parsed here, once, at the edge: nothing above the transport sees raw dicts or
`{"$date": ms}`. Parsers are lenient (unknown fields are ignored, missing optional fields get
defaults) because a garbage frame from the server must never crash the bot; a frame that lacks
what makes it usable raises `WireFormatError`, which the transport logs and drops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.chat.types import (
    Action,
    Attachment,
    FileInfo,
    Message,
    Room,
    Subscription,
    User,
    UserRef,
    Visitor,
)


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
    if isinstance(value, (int, float)):  # a tuple: faster to check than `int | float`
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


def _parse_many(parse: Any, items: list[Any]) -> list[Any]:
    parsed = []
    for item in items:
        try:
            parsed.append(parse(item))
        except WireFormatError:
            continue
    return parsed


def _visitor(data: Any) -> Visitor | None:
    if not isinstance(data, dict):
        return None
    try:
        return visitor_from_wire(data)
    except WireFormatError:
        return None


def user_ref_from_wire(data: Any) -> UserRef:
    """`UserRef` from wire JSON."""
    data = _dict(data)
    uid, username = _str(data.get("_id")), _str(data.get("username"))
    if not uid and not username:
        raise WireFormatError("user reference without _id or username")
    return UserRef(id=uid or "", username=username or "", name=_str(data.get("name")))


def file_info_from_wire(data: Any) -> FileInfo:
    """`FileInfo` from wire JSON."""
    data = _dict(data)
    fid = _str(data.get("_id"))
    if not fid:
        raise WireFormatError("file without _id")
    size = data.get("size")
    return FileInfo(
        id=fid,
        name=_str(data.get("name")) or fid,
        type=_str(data.get("type")) or "application/octet-stream",
        size=size if isinstance(size, int) and not isinstance(size, bool) else 0,
        url=_str(data.get("url")),
        description=_str(data.get("description")),
        uploaded_at=parse_date(data.get("uploadedAt")),
        user_id=_str(data.get("userId")),
    )


def action_to_wire(action: Action) -> dict[str, Any]:
    """`Action` as wire JSON."""
    wire: dict[str, Any] = {"type": "button", "text": action.text}
    if action.url:
        wire["url"] = action.url
    if action.msg is not None:
        wire["msg"] = action.msg
        wire["msg_in_chat_window"] = action.msg_in_chat_window
        wire["msg_processing_type"] = "sendMessage"
    return wire


def attachment_from_wire(data: Any) -> Attachment:
    """`Attachment` from wire JSON."""
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
    return Attachment(
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


def attachment_to_wire(attachment: Attachment) -> dict[str, Any]:
    """`Attachment` as wire JSON."""
    wire: dict[str, Any] = {}
    for key, value in (
        ("title", attachment.title),
        ("title_link", attachment.title_link),
        ("text", attachment.text),
        ("description", attachment.description),
        ("color", attachment.color),
        ("type", attachment.type),
        ("image_url", attachment.image_url),
        ("author_name", attachment.author_name),
        ("message_link", attachment.message_link),
    ):
        if value is not None:
            wire[key] = value
    if attachment.actions:
        wire["actions"] = [action_to_wire(a) for a in attachment.actions]
    return wire


def visitor_from_wire(data: Any) -> Visitor:
    """`Visitor` from wire JSON."""
    data = _dict(data)
    vid, username = _str(data.get("_id")), _str(data.get("username"))
    if not vid or not username:
        raise WireFormatError("visitor without _id or username")
    emails = [e.get("address") for e in _list(data.get("visitorEmails")) if isinstance(e, dict)]
    phones = [p.get("phoneNumber") for p in _list(data.get("phone")) if isinstance(p, dict)]
    email = next((e for e in emails if isinstance(e, str) and e), None)
    phone = next((p for p in phones if isinstance(p, str) and p), None)
    return Visitor(
        id=vid,
        username=username,
        token=_str(data.get("token")),
        name=_str(data.get("name")),
        email=email or _str(data.get("email")),
        phone=phone if phone else (_str(data.get("phone")) or None),
        status=_str(data.get("status")),
    )


def message_from_wire(data: Any, meta: Any = None) -> Message:
    """`Message` from wire JSON. An optional part is read only when it is there: the reader
    thread builds one for every message the bot is told of, and most have none of them."""
    data, meta = _dict(data), _dict(meta)
    get = data.get
    mid, rid = _str(get("_id")), _str(get("rid"))
    if not mid or not rid:
        raise WireFormatError("message without _id or rid")
    ts = parse_date(get("ts"))
    if ts is None:
        raise WireFormatError(f"message {mid} without a valid ts")
    edited_at, edited_by = get("editedAt"), get("editedBy")
    attachments, mentions = get("attachments"), get("mentions")
    files, file = get("files"), get("file")
    if not (isinstance(files, list) and files):
        files = [file] if isinstance(file, dict) else []
    participant = meta.get("roomParticipant")
    return Message(
        id=mid,
        rid=rid,
        text=_str(get("msg")) or "",
        ts=ts,
        author=user_ref_from_wire(get("u")),
        updated_at=parse_date(get("_updatedAt")),
        type=_str(get("t")) or None,
        edited_at=parse_date(edited_at) if edited_at is not None else None,
        edited_by=user_ref_from_wire(edited_by) if isinstance(edited_by, dict) else None,
        tmid=_str(get("tmid")),
        alias=_str(get("alias")),
        attachments=tuple(attachment_from_wire(a) for a in attachments if isinstance(a, dict))
        if isinstance(attachments, list) and attachments
        else (),
        files=tuple(_parse_many(file_info_from_wire, files)) if files else (),
        mentions=tuple(_parse_many(user_ref_from_wire, mentions))
        if isinstance(mentions, list) and mentions
        else (),
        bot=bool(get("bot")),
        room_type=_str(meta.get("roomType")),
        room_name=_str(meta.get("roomName")),
        room_participant=participant if isinstance(participant, bool) else None,
        extra={k: data[k] for k in _EXTRA if k in data},
        from_visitor=bool(_str(get("token"))),
    )


#: message fields kept as they come (`Message.extra`)
_EXTRA = ("transferData", "comment", "customFields")


def user_from_wire(data: Any) -> User:
    """`User` from wire JSON."""
    data = _dict(data)
    uid, username = _str(data.get("_id")), _str(data.get("username"))
    if not uid or not username:
        raise WireFormatError("user without _id or username")
    offset = data.get("utcOffset")
    return User(
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


def room_from_wire(data: Any) -> Room:
    """`Room` from wire JSON."""
    data = _dict(data)
    rid = _str(data.get("_id")) or _str(data.get("rid"))
    if not rid:
        raise WireFormatError("room without _id")
    owner = data.get("u")
    count = data.get("usersCount")
    visitor = data.get("v")
    served = data.get("servedBy")
    source = _dict(data.get("source"))
    return Room(
        id=rid,
        type=_str(data.get("t")) or "c",
        name=_str(data.get("name")),
        fname=_str(data.get("fname")),
        topic=_str(data.get("topic")),
        usernames=tuple(u for u in _list(data.get("usernames")) if isinstance(u, str)),
        user_count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        read_only=bool(data.get("ro")),
        archived=bool(data.get("archived")),
        owner=user_ref_from_wire(owner) if isinstance(owner, dict) else None,
        visitor=_visitor(visitor),
        served_by=user_ref_from_wire(served) if isinstance(served, dict) else None,
        department_id=_str(data.get("departmentId")),
        source_type=_str(source.get("type")),
        # Rocket.Chat unsets `open` when it closes a livechat room
        open=data.get("open") is True if _str(data.get("t")) == "l" else True,
        closer=_str(data.get("closer")),
        survey_feedback=tuple(
            (k, v) for k, v in _dict(data.get("surveyFeedback")).items() if isinstance(v, str)
        ),
    )


def subscription_from_wire(data: Any) -> Subscription:
    """`Subscription` from wire JSON."""
    data = _dict(data)
    sid, rid = _str(data.get("_id")), _str(data.get("rid"))
    if not sid or not rid:
        raise WireFormatError("subscription without _id or rid")
    return Subscription(
        id=sid,
        rid=rid,
        type=_str(data.get("t")) or "c",
        name=_str(data.get("name")),
        open=bool(data.get("open", True)),
        roles=tuple(r for r in _list(data.get("roles")) if isinstance(r, str)),
        visitor=_visitor(data.get("v")),
        department_id=_str(data.get("department")),
    )
