"""REST `livechat/*` of the agent side on rooms: list, forward, close, messages, join, visitor
info, agent status (RC `apps/meteor/app/livechat/server/api/v1/{room,agent,visitor}.ts`,
`imports/server/rest/rooms.ts`)."""

from __future__ import annotations

import re

from ..livechat_model import LivechatError
from .http import ApiError, Req, Routes, failure, invalid
from .params import sort_param, sorted_by, string_list_param, string_param

routes = Routes()


def with_department(req: Req, room: dict) -> dict:
    dep = req.lc.departments.get(room.get("departmentId") or "")
    if dep is None:
        return room
    return {**room, "department": {"_id": dep["_id"], "name": dep["name"]}}


@routes.route("GET", "livechat/rooms")
def rooms(req: Req) -> dict:
    user = req.need()
    agents = string_list_param(req.params.get("agents"), "agents")
    admin = req.st.has_permission(user, "view-livechat-rooms")
    own = req.st.has_permission(user, "view-l-room") and agents == [user.id]
    if not (admin or own):
        raise req.api.forbidden()
    found = req.lc.rooms()
    if agents:
        found = [r for r in found if (r.get("servedBy") or {}).get("_id") in agents]
    dep = string_param(req, "departmentId")
    if dep:
        found = [r for r in found if r.get("departmentId") == dep]
    is_open = req.params.get("open")
    if is_open in ("true", "false", True, False):
        want = is_open in ("true", True)
        found = [r for r in found if bool(r.get("open")) == want]
    name = string_param(req, "roomName")
    if name:
        pattern = re.compile(re.escape(name), re.IGNORECASE)
        found = [r for r in found if pattern.search(r.get("fname") or "")]
    tags = string_list_param(req.params.get("tags"), "tags")
    if tags:
        found = [r for r in found if set(tags) & set(r.get("tags") or [])]
    found = sorted_by(found, sort_param(req, {"ts": -1}))
    page = req.page([with_department(req, r) for r in found], "rooms")
    return page


@routes.route("POST", "livechat/room.forward")
def room_forward(req: Req) -> dict:
    user = req.need("view-l-room", "transfer-livechat-guest")
    rid = string_param(req, "roomId", required=True)
    target_id = string_param(req, "userId")
    dep_id = string_param(req, "departmentId")
    comment = string_param(req, "comment")
    found = req.st.room(rid)
    if found is None or found["t"] != "l":
        raise LivechatError("error-invalid-room")
    if not found.get("open"):
        raise LivechatError("This_conversation_is_already_closed")
    if target_id:
        target = req.st.users.get(target_id)
        if target is None:
            raise LivechatError("error-user-is-offline")
        req.lc.forward_to_agent(found, target, user, comment)
    elif dep_id:
        dep = req.lc.departments.get(dep_id)
        if dep is None or not dep["enabled"]:
            raise LivechatError("error-forwarding-chat")
        req.lc.forward_to_department(found, dep, user, comment)
    else:
        raise LivechatError("error-forwarding-chat")
    return {}


@routes.route("POST", "livechat/room.closeByUser")
def room_close_by_user(req: Req) -> dict:
    user = req.need("close-livechat-room")
    rid = string_param(req, "rid", required=True)
    comment = string_param(req, "comment")
    tags = string_list_param(req.params.get("tags"), "tags")
    email = req.params.get("transcriptEmail")
    if email is not None and not (
        isinstance(email, dict) and isinstance(email.get("sendToVisitor"), bool)
    ):
        raise invalid("'transcriptEmail' must have required property 'sendToVisitor'")
    found = req.st.room(rid)
    if found is None or found["t"] != "l":
        raise LivechatError("error-invalid-room")
    if not found.get("open"):
        for r, uid in list(req.st.subs):
            if r == found["_id"]:
                req.st.drop_subscription(found, uid)
        raise LivechatError("error-room-already-closed")
    if (found["_id"], user.id) not in req.st.subs and not req.st.has_permission(
        user, "close-others-livechat-room"
    ):
        raise LivechatError("error-not-authorized")
    req.lc.close(found, comment=comment, user=user, tags=tags, client_action=True)
    return {}


@routes.route("GET", "livechat/:rid/messages")
def room_messages(req: Req) -> dict:
    """`livechat/:rid/messages`: user messages and `livechat-close`, newest first."""
    user = req.need("view-l-room")
    found = req.st.room(req.path["rid"])
    if found is None or found["t"] != "l":
        raise LivechatError("invalid-room")
    if not req.st.can_access(user, found):
        raise LivechatError("not-allowed")
    term = (string_param(req, "searchTerm") or "").lower()
    msgs = [
        m
        for m in req.st.messages.get(found["_id"], [])
        if (not m.get("t") or m["t"] == "livechat-close")
        and (not term or term in (m.get("msg") or "").lower())
    ]
    msgs = sorted_by(list(msgs), sort_param(req, {"ts": -1}))
    offset = max(0, req.int("offset", 0))
    count = req.int("count", 50)
    page = msgs[offset:] if count <= 0 else msgs[offset : offset + count]
    return {"messages": page, "offset": offset, "count": count, "total": len(msgs)}


@routes.route("POST", "livechat/agent.status")
def agent_status(req: Req) -> dict:
    user = req.need("view-l-room")
    status = string_param(req, "status")
    if status is not None and status not in ("available", "not-available"):
        raise invalid("'status' must be equal to one of the allowed values")
    agent_id = string_param(req, "agentId") or user.id
    agent = req.st.users.get(agent_id)
    if agent is None or not req.lc.is_agent(agent):
        raise ApiError(404, {"error": "Agent not found"})
    if not agent.active:
        raise failure("error-user-deactivated")
    new = status or ("not-available" if agent.status_livechat == "available" else "available")
    if new == agent.status_livechat:
        return {"status": new}
    allowed = req.lc.can_change_status(new)
    if agent.id != user.id:
        if not req.st.has_permission(user, "manage-livechat-agents"):
            raise req.api.forbidden()
        if allowed:
            req.lc.set_status(agent, new)
            return {"status": new}
        return {"status": agent.status_livechat}
    if not allowed:
        raise failure("error-business-hours-are-closed")
    req.lc.set_status(agent, new)
    return {"status": new}


@routes.route("GET", "livechat/room.join")
def room_join(req: Req) -> dict:
    user = req.need("view-l-room")
    rid = string_param(req, "roomId", required=True)
    found = req.st.room(rid)
    if found is None or found["t"] != "l":
        raise LivechatError("error-invalid-room")
    if not found.get("open"):
        raise LivechatError("room-closed")
    if not req.st.can_access(user, found):
        raise LivechatError("error-not-allowed")
    req.st.add_member(found, user, None, "uj")
    return {}


@routes.route("GET", "livechat/visitors.info")
def visitors_info(req: Req) -> dict:
    req.need("view-l-room")
    vid = string_param(req, "visitorId", required=True)
    found = req.lc.visitors.get(vid)
    if found is None:
        raise LivechatError("visitor-not-found")
    return {"visitor": found.doc()}
