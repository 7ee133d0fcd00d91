"""REST `livechat/*` of the visitor side (no login; the visitor token): visitor, room, message,
upload, history, close, agent info (RC `apps/meteor/app/livechat/server/api/v1/{visitor,room,
message,agent,upload}.ts`). Errors are RC's `throw new Error('<key>')`: 400 `{error: key}`."""

from __future__ import annotations

from typing import Any

from .. import dates
from ..livechat_model import LivechatError, Visitor
from ..model import User, random_id
from .http import Req, Routes, failure, invalid
from .lookups import file_fields
from .params import string_param

routes = Routes()


def guest(req: Req, token: Any) -> Visitor:
    visitor = req.lc.visitor_by_token(token)
    if visitor is None:
        raise LivechatError("invalid-token")
    return visitor


@routes.route("POST", "livechat/visitor", auth=False)
def visitor(req: Req) -> dict:
    v = req.params.get("visitor")
    if not isinstance(v, dict):
        raise invalid("must have required property 'visitor'")
    if not isinstance(v.get("token"), str):
        raise invalid("must have required property 'token'")
    for key in ("name", "email", "department", "phone", "username"):
        if v.get(key) is not None and not isinstance(v[key], str):
            raise invalid(f"'visitor.{key}' must be string")
    custom: dict[str, str] = {}
    fields = v.get("customFields")
    if fields is not None:
        if not isinstance(fields, list):
            raise invalid("'visitor.customFields' must be array")
        for f in fields:
            if not (
                isinstance(f, dict)
                and isinstance(f.get("key"), str)
                and isinstance(f.get("value"), str)
            ):
                raise invalid("'visitor.customFields' items need key and value strings")
            custom[f["key"]] = f["value"]
    found = req.lc.register_visitor(
        v["token"],
        name=v.get("name"),
        email=v.get("email"),
        phone=v.get("phone"),
        department=v.get("department"),
        username=v.get("username"),
        custom=custom,
    )
    return {"visitor": found.doc()}


@routes.route("GET", "livechat/room", auth=False)
def room(req: Req) -> dict:
    token = req.params.get("token")
    if not isinstance(token, str):
        raise failure("Match error: Missing key 'token'")
    visitor = guest(req, token)
    rid = req.params.get("rid")
    if rid:
        found = req.lc.open_room_of(token, str(rid))
        if found is None:
            raise LivechatError("invalid-room")
        return {"room": found, "newRoom": False}
    existing = req.lc.open_room_of(token)
    if existing is not None:
        return {"room": existing, "newRoom": False}
    extra = {k: v for k, v in req.params.items() if k not in ("token", "rid", "agentId")}
    # RC's isWidget(): both cookies the widget sets (rc_room_type=l and rc_is_widget=t).
    cookies = req.request.cookies
    widget = cookies.get("rc_is_widget") == "t" and cookies.get("rc_room_type") == "l"
    source = "widget" if widget else "api"
    created = req.lc.create_room(
        visitor, agent_id=req.str("agentId"), source=source, extra=extra or None
    )
    return {"room": created, "newRoom": True}


@routes.route("POST", "livechat/message", auth=False)
def message(req: Req) -> dict:
    token = string_param(req, "token", required=True)
    rid = string_param(req, "rid", required=True)
    msg = string_param(req, "msg", required=True)
    mid = string_param(req, "_id")
    visitor = guest(req, token)
    found = req.lc.room_of(token, rid)
    if found is None:
        raise LivechatError("invalid-room")
    if not found.get("open"):
        raise LivechatError("room-closed")
    limit = int(req.st.settings.get("Livechat_message_character_limit") or 0)
    if req.st.settings.get("Livechat_enable_message_character_limit") and len(msg) > limit:
        raise LivechatError("message-length-exceeds-character-limit")
    return {"message": req.lc.visitor_message(visitor, found, msg, mid)}


@routes.route("POST", "livechat/upload/:rid", auth=False)
def upload(req: Req) -> dict:
    """`livechat/upload/:rid` (multipart `file`), the visitor named by `x-visitor-token`."""
    token = req.request.headers.get("x-visitor-token")
    visitor = req.lc.visitor_by_token(token)
    found = req.lc.open_room_of(token, req.path["rid"]) if visitor else None
    if visitor is None or found is None:
        raise req.api.unauthorized()
    up = req.form_files.get("file")
    if not up:
        raise failure("[No file uploaded]")
    fid = random_id()
    name = up["name"] or "file"
    f = {
        "_id": fid,
        "name": name,
        "type": up["type"] or "application/octet-stream",
        "size": len(up["data"]),
        "rid": found["_id"],
        "userId": visitor.id,
        "uploadedAt": dates.now(),
        "url": f"/file-upload/{fid}/{name}",
        "complete": True,
        "data": up["data"],
    }
    req.st.files[fid] = f
    fields = file_fields(req, f)
    msg = req.lc.visitor_message(visitor, found, fields.pop("msg"), extra=fields)
    f["messageId"] = msg["_id"]
    return dict(msg)


@routes.route("GET", "livechat/messages.history/:rid", auth=False)
def messages_history(req: Req) -> dict:
    rid = req.path["rid"]
    token = req.params.get("token")
    if not token:
        raise LivechatError("error-token-param-not-provided")
    guest(req, token)
    found = req.lc.room_of(str(token), rid)
    if found is None:
        raise LivechatError("invalid-room")
    msgs = req.st.history(found["_id"], latest=req.date("end"))
    offset = max(0, req.int("offset", 0))
    limit = req.int("limit", 20)
    page = msgs[offset:] if limit <= 0 else msgs[offset : offset + limit]
    return {"messages": page}


@routes.route("POST", "livechat/room.close", auth=False)
def room_close(req: Req) -> dict:
    rid = string_param(req, "rid", required=True)
    token = string_param(req, "token", required=True)
    if not req.st.settings.get("Omnichannel_allow_visitors_to_close_conversation"):
        raise LivechatError("error-not-allowed-to-close-conversation")
    visitor = guest(req, token)
    found = req.lc.room_of(token, rid)
    if found is None:
        raise LivechatError("invalid-room")
    if not found.get("open"):
        raise LivechatError("room-closed")
    comment = "Closed by visitor"
    req.lc.close(found, comment=comment, visitor=visitor)
    return {"rid": rid, "comment": comment}


@routes.route("GET", "livechat/agent.info/:rid/:token", auth=False)
def agent_info(req: Req) -> dict:
    rid, token = req.path["rid"], req.path["token"]
    guest(req, token)
    found = req.lc.room_of(token, rid)
    if found is None:
        raise LivechatError("invalid-room")
    served = found.get("servedBy") or {}
    agent = req.st.users.get(served.get("_id", ""))
    if agent is None:
        raise LivechatError("invalid-agent")
    return {"agent": agent_doc(req, agent)}


def agent_doc(req: Req, agent: User) -> dict[str, Any]:
    """RC's normalizeAgent: what a visitor may see of its agent (`Livechat_show_agent_info`)."""
    if not req.st.settings.get("Livechat_show_agent_info"):
        return {"hiddenInfo": True}
    doc: dict[str, Any] = {
        "_id": agent.id,
        "name": agent.name,
        "username": agent.username,
        "status": agent.status,
    }
    if req.st.settings.get("Livechat_show_agent_email") and agent.email:
        doc["emails"] = [{"address": agent.email, "verified": True}]
    return doc
