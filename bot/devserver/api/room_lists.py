"""REST room lists by type (`channels.list`, `channels.list.joined`, `groups.list`,
`im.list`/`dm.list`) and `dm.messages` by room id or username (RC `apps/meteor/app/api/server/
v1/{channels,groups,im}.ts`)."""

from __future__ import annotations

from typing import Any

from ..model import MeteorError
from .http import Req, Routes
from .params import sort_param, sorted_by

routes = Routes()


def _joined(req: Req, kind: str) -> list[dict[str, Any]]:
    rooms = [
        req.st.rooms[rid]
        for (rid, uid) in list(req.st.subs)
        if uid == req.user.id and req.st.rooms[rid]["t"] == kind
    ]
    return sorted_by(rooms, sort_param(req, {"name": 1} if kind != "d" else {"_updatedAt": -1}))


@routes.get("channels.list")
def channels_list(req: Req) -> dict:
    user = req.need()
    if not (
        req.st.has_permission(user, "view-c-room")
        or req.st.has_permission(user, "view-joined-room")
    ):
        raise req.api.forbidden()
    rooms = [r for r in req.st.rooms.values() if r["t"] == "c"]
    return req.page(sorted_by(rooms, sort_param(req, {"name": 1})), "channels")


@routes.get("channels.list.joined")
def channels_list_joined(req: Req) -> dict:
    return req.page(_joined(req, "c"), "channels")


@routes.get("groups.list")
def groups_list(req: Req) -> dict:
    return req.page(_joined(req, "p"), "groups")


@routes.get("im.list")
@routes.get("dm.list")
def dm_list(req: Req) -> dict:
    return req.page(_joined(req, "d"), "ims")


@routes.get("dm.messages")
@routes.get("im.messages")
def dm_messages(req: Req) -> dict:
    """RC's findDirectMessageRoom: `roomId`, or `username` for the DM with that user."""
    rid, username = req.str("roomId"), req.str("username")
    if not rid and not username:
        raise MeteorError(
            "error-room-param-not-provided", 'Query param "roomId" or "username" is required'
        )
    if rid:
        room = req.st.room(rid)
    else:
        other = req.st.find_user(username)
        room = req.st.direct_room(req.user, [other]) if other is not None else None
    if room is None or room["t"] != "d" or not req.st.can_access(req.user, room):
        raise MeteorError(
            "error-room-not-found",
            'The required "roomId" or "username" param provided does not match any direct message',
        )
    return req.page(req.st.history(room["_id"]), "messages")
