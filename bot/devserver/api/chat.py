"""REST `chat.*` (RC `apps/meteor/app/api/server/v1/chat.ts`)."""

from __future__ import annotations

from .. import dates
from ..model import MeteorError
from .http import Req, Routes, failure, invalid
from .lookups import any_room

routes = Routes()


def resolve_channel(req: Req, channel: str) -> dict:
    if channel.startswith("@"):
        other = req.st.find_user(channel[1:])
        if other is None:
            raise MeteorError("error-invalid-user", "Invalid user")
        return req.st.direct_room(req.user, [other])
    room = (
        req.st.room_by_name(channel)
        if channel.startswith("#")
        else (req.st.room(channel) or req.st.room_by_name(channel))
    )
    if room is None:
        raise MeteorError("error-invalid-channel", "Invalid channel")
    return room


MSG_FIELDS = (
    "alias",
    "emoji",
    "avatar",
    "attachments",
    "tmid",
    "tshow",
    "customFields",
    "blocks",
    "parseUrls",
)


@routes.route("POST", "chat.postMessage")
def chat_post(req: Req) -> dict:
    target = req.params.get("roomId") or req.params.get("channel")
    if not target:
        raise MeteorError("error-invalid-channel", "Invalid channel")
    targets = target if isinstance(target, list) else [target]
    fields = {k: req.params[k] for k in MSG_FIELDS if k in req.params and k != "parseUrls"}
    fields["msg"] = str(req.params.get("text") or req.params.get("msg") or "")
    msg = None
    for t in targets:
        room = req.st.room(t) if req.params.get("roomId") else resolve_channel(req, str(t))
        if room is None:
            raise MeteorError("error-invalid-channel", "Invalid channel")
        msg = req.st.post_message(req.user, room, fields)
    return {"ts": int(msg["ts"].timestamp() * 1000), "channel": target, "message": msg}


@routes.route("POST", "chat.sendMessage")
def chat_send(req: Req) -> dict:
    m = req.params.get("message")
    if not isinstance(m, dict) or not m.get("rid"):
        raise invalid("must have required property 'rid'")
    if m.get("t"):
        raise MeteorError("error-invalid-params", "Invalid params")
    room = req.st.room(m["rid"])
    if room is None:
        raise MeteorError("error-invalid-room", "Invalid room")
    fields = {k: m[k] for k in ("_id", "msg", *MSG_FIELDS) if k in m}
    return {"message": req.st.post_message(req.user, room, fields)}


def message_in(req: Req, id_key: str = "msgId") -> dict:
    mid = req.str(id_key, required=True)
    msg = req.st.find_message(mid)
    if msg is None:
        raise failure(f'No message found with the id of "{mid}".')
    if req.str("roomId") and req.str("roomId") != msg["rid"]:
        raise failure("The room id provided does not match where the message is from.")
    if not req.st.can_access(req.user, req.st.room(msg["rid"])):
        raise req.api.forbidden()
    return msg


@routes.route("POST", "chat.update")
def chat_update(req: Req) -> dict:
    req.str("roomId", required=True)
    msg = message_in(req)
    text = req.params.get("text")
    if not isinstance(text, str):
        raise invalid("must have required property 'text'")
    extra = {k: req.params[k] for k in ("customFields", "attachments") if k in req.params}
    return {"message": req.st.update_message(req.user, msg, text, **extra)}


@routes.route("POST", "chat.delete")
def chat_delete(req: Req) -> dict:
    msg = message_in(req)
    req.st.delete_message(req.user, msg)
    return {
        "_id": msg["_id"],
        "ts": str(int(dates.now().timestamp() * 1000)),
        "message": {"_id": msg["_id"], "rid": msg["rid"], "u": msg["u"]},
    }


@routes.route("GET", "chat.getMessage")
def chat_get(req: Req) -> dict:
    return {"message": message_in(req)}


@routes.route("POST", "chat.react")
def chat_react(req: Req) -> dict:
    msg = message_in(req, "messageId")
    req.st.react(
        req.user,
        msg,
        req.str("emoji") or req.str("reaction") or ":smile:",
        req.params.get("shouldReact"),
    )
    return {}


@routes.route("GET", "chat.search")
def chat_search(req: Req) -> dict:
    room = any_room(req, req.str("roomId", required=True))
    needle = (req.str("searchText") or "").lower()
    found = [
        m
        for m in req.st.history(room["_id"])
        if needle in m.get("msg", "").lower() and "t" not in m
    ]
    return {"messages": req.page(found, "messages")["messages"]}
