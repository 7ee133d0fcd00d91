"""Lookups shared by the REST areas: a room by id or name, a target user, upload messages."""

from __future__ import annotations

from typing import Any

from .. import dates
from ..model import MeteorError, User
from .http import ApiError, Req


def room_for(req: Req, kinds: str, *, id_key: str = "roomId", name_key: str = "roomName") -> dict:
    rid, name = req.str(id_key), req.str(name_key)
    if not rid and not name:
        raise ApiError(
            400,
            {
                "error": 'The parameter "roomId" or "roomName" is required '
                "[error-room-param-not-provided]",
                "errorType": "error-room-param-not-provided",
            },
        )
    room = req.st.room(rid) if rid else req.st.room_by_name(name)
    if room is None or room["t"] not in kinds:
        raise MeteorError(
            "error-room-not-found",
            'The required "roomId" or "roomName" param provided does not match any group'
            if "p" in kinds
            else 'The required "roomId" or "roomName" param provided does not match any channel',
        )
    if room["t"] != "c" and not req.st.can_access(req.user, room):
        # RC's groups.* answer a non-member exactly like a missing group; REST media/info 403.
        raise MeteorError(
            "error-room-not-found",
            'The required "roomId" or "roomName" param provided does not match any group',
        )
    return room


def any_room(req: Req, rid: str | None) -> dict:
    room = req.st.room(rid)
    if room is None:
        raise MeteorError(
            "error-room-not-found",
            'The required "roomId" param provided does not match any room',
        )
    if not req.st.can_access(req.user, room):
        raise req.api.forbidden()
    return room


def target_user(req: Req) -> User:
    user = req.st.find_user(req.str("userId") or req.str("username"))
    if user is None:
        raise MeteorError("error-invalid-user", "Invalid user")
    return user


def file_doc(f: dict) -> dict:
    return {k: v for k, v in f.items() if k != "data"}


def file_message(req: Req, room: dict, f: dict) -> dict:
    msg = req.st.post_message(req.user, room, file_fields(req, f))
    f["messageId"] = msg["_id"]
    return msg


def file_fields(req: Req, f: dict) -> dict[str, Any]:
    """The `file`, `files` and `attachments` of the message announcing an upload."""
    desc = req.str("description") or ""
    att: dict[str, Any] = {
        "ts": dates.now(),
        "title": f["name"],
        "title_link": f["url"],
        "title_link_download": True,
        "type": "file",
        "description": desc,
        "format": f["name"].rsplit(".", 1)[-1].upper() if "." in f["name"] else "",
        "size": f["size"],
    }
    if f["type"].startswith("image/"):
        att.update(image_url=f["url"], image_type=f["type"], image_size=f["size"])
    fields: dict[str, Any] = {
        "msg": req.str("msg") or "",
        "file": {
            "_id": f["_id"],
            "name": f["name"],
            "type": f["type"],
            "size": f["size"],
            "format": att["format"],
        },
        "files": [
            {
                "_id": f["_id"],
                "name": f["name"],
                "type": f["type"],
                "size": f["size"],
                "format": att["format"],
            }
        ],
        "attachments": [att],
    }
    if req.str("tmid"):
        fields["tmid"] = req.str("tmid")
    return fields
