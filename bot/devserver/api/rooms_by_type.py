"""REST `channels.*`, `groups.*`, `dm.*`/`im.*`: the same operations per room type
(RC `apps/meteor/app/api/server/v1/{channels,groups,im}.ts`)."""

from __future__ import annotations

from typing import Any

from ..model import MeteorError
from .http import Req, Routes, invalid
from .lookups import file_doc, room_for, target_user

routes = Routes()


def dm_create(req: Req) -> dict:
    names = req.str("username") or req.str("usernames")
    if not names:
        raise invalid("must have required property 'username'")
    others = []
    for n in names.split(","):
        u = req.st.find_user(n.strip())
        if u is None:
            raise MeteorError(
                "error-invalid-user", "Invalid user", {"method": "createDirectMessage"}
            )
        others.append(u)
    if req.bool("excludeSelf"):
        others = [u for u in others if u.id != req.user.id]
    room = req.st.direct_room(req.user, others)
    return {"room": {**room, "rid": room["_id"]}}


routes.route("POST", "dm.create")(dm_create)
routes.route("POST", "im.create")(dm_create)


def history(kinds: str):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        if not req.st.can_access(req.user, room):
            raise req.api.forbidden()
        msgs = req.st.history(
            room["_id"],
            oldest=req.date("oldest"),
            latest=req.date("latest"),
            inclusive=req.bool("inclusive"),
            show_threads=req.bool("showThreadMessages", True),
        )
        page = req.page(msgs, "messages")
        out: dict[str, Any] = {"messages": page["messages"]}
        if req.bool("unreads"):
            sub = req.st.sub(room["_id"], req.user.id)
            out["unreadNotLoaded"] = 0
            out["firstUnread"] = None
            if sub:
                out["unreadNotLoaded"] = max(0, sub["unread"] - len(page["messages"]))
        return out

    return fn


routes.route("GET", "groups.history")(history("p"))
routes.route("GET", "channels.history")(history("c"))
routes.route("GET", "dm.history")(history("d"))
routes.route("GET", "im.history")(history("d"))


def messages(kinds: str):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        return req.page(req.st.history(room["_id"]), "messages")

    return fn


routes.route("GET", "channels.messages")(messages("c"))
routes.route("GET", "groups.messages")(messages("p"))


def create(kind: str, key: str):
    def fn(req: Req) -> dict:
        name = req.str("name", required=True)
        members = req.params.get("members") or []
        if isinstance(members, str):
            members = [m for m in members.split(",") if m]
        owner = None if req.bool("excludeSelf") else req.user
        room = req.st.create_room(kind, name, owner, members, read_only=req.bool("readOnly"))
        if owner is None:
            room["u"] = {"_id": req.user.id, "username": req.user.username}
        return {key: room}

    return fn


routes.route("POST", "groups.create")(create("p", "group"))
routes.route("POST", "channels.create")(create("c", "channel"))

# What RC's underlying methods throw when the caller may not manage the room (all 400).
REFUSALS = {
    "invite": ("error-not-allowed", "Not allowed"),
    "kick": ("error-not-allowed", "Not allowed"),
    "archive": ("error-not-authorized", "Not authorized"),
    "topic": ("error-action-not-allowed", "Editing room is not allowed"),
}


def manage(req: Req, room: dict, action: str) -> None:
    if not (req.st.is_owner(req.user, room) or "admin" in req.user.roles):
        raise MeteorError(*REFUSALS[action])


def invite(kinds: str, key: str):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        manage(req, room, "invite")
        ids = req.params.get("userIds") or req.params.get("usernames")
        targets = (
            [req.st.find_user(i) for i in ids] if isinstance(ids, list) else [target_user(req)]
        )
        if any(t is None for t in targets):
            raise MeteorError("error-invalid-user", "Invalid user")
        for t in targets:
            req.st.add_member(room, t, req.user, "au")
        return {key: room}

    return fn


routes.route("POST", "groups.invite")(invite("p", "group"))
routes.route("POST", "channels.invite")(invite("c", "channel"))


def kick(kinds: str):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        manage(req, room, "kick")
        req.st.remove_member(room, target_user(req), req.user, "ru")
        return {}

    return fn


routes.route("POST", "groups.kick")(kick("p"))
routes.route("POST", "channels.kick")(kick("c"))


def leave(kinds: str):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        req.st.remove_member(room, req.user, None, "ul")
        return {}

    return fn


routes.route("POST", "groups.leave")(leave("p"))
routes.route("POST", "channels.leave")(leave("c"))


def info(kinds: str, key: str):
    def fn(req: Req) -> dict:
        return {key: room_for(req, kinds)}

    return fn


routes.route("GET", "groups.info")(info("p", "group"))
routes.route("GET", "channels.info")(info("c", "channel"))


def members(kinds: str):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        docs = [
            {
                "_id": u.id,
                "username": u.username,
                "name": u.name,
                "status": u.status,
                "utcOffset": u.utc_offset,
            }
            for u in req.st.members(room["_id"])
        ]
        return req.page(docs, "members")

    return fn


routes.route("GET", "groups.members")(members("p"))
routes.route("GET", "channels.members")(members("c"))


def files(kinds: str):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        docs = [
            file_doc(f)
            for f in req.st.files.values()
            if f["rid"] == room["_id"] and f.get("complete")
        ]
        return req.page(docs, "files")

    return fn


routes.route("GET", "groups.files")(files("p"))
routes.route("GET", "channels.files")(files("c"))
routes.route("GET", "dm.files")(files("d"))


def archive(kinds: str, flag: bool):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        manage(req, room, "archive")
        if bool(room.get("archived")) == flag:
            raise MeteorError(
                "error-room-archived" if flag else "error-room-not-archived",
                "Room is archived" if flag else "Room is not archived",
            )
        req.st.system_message(room, req.user, "room-archived" if flag else "room-unarchived", "")
        req.st.update_room(room, archived=flag)
        for (rid, _), sub in req.st.subs.items():
            if rid == room["_id"]:
                sub["archived"] = flag
        return {}

    return fn


routes.route("POST", "groups.archive")(archive("p", True))
routes.route("POST", "groups.unarchive")(archive("p", False))
routes.route("POST", "channels.archive")(archive("c", True))
routes.route("POST", "channels.unarchive")(archive("c", False))


def set_topic(kinds: str):
    def fn(req: Req) -> dict:
        room = room_for(req, kinds)
        manage(req, room, "topic")
        topic = str(req.params.get("topic") or "")
        req.st.update_room(room, topic=topic)
        req.st.system_message(room, req.user, "room_changed_topic", topic)
        return {"topic": topic}

    return fn


routes.route("POST", "groups.setTopic")(set_topic("p"))
routes.route("POST", "channels.setTopic")(set_topic("c"))


@routes.route("POST", "channels.join")
def channels_join(req: Req) -> dict:
    room = room_for(req, "c")
    req.st.add_member(room, req.user, None, "uj")
    return {"channel": room}
