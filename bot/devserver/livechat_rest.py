"""REST `livechat/*` routes: the visitor side (no auth) and the agent side (RC permissions).

Shapes and error keys follow RC `apps/meteor/app/livechat/server/api/v1/{visitor,room,message,
agent}.ts` and `imports/server/rest/{rooms,departments}.ts` (research §3–§5). Visitor-side
errors are RC's `throw new Error('<key>')`: 400 `{success:false, error:'<key>'}`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .livechat import Livechat, LivechatError, Visitor
from .rest import ApiError, Req, failure, invalid, not_found
from .state import User, now, random_id

if TYPE_CHECKING:
    from .rest import Rest


def _string(req: Req, key: str, *, required: bool = False) -> str | None:
    value = req.params.get(key)
    if value is None:
        if required:
            raise invalid(f"must have required property '{key}'")
        return None
    if not isinstance(value, str):
        raise invalid(f"'{key}' must be string")
    return value


def _strings(value: Any, key: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"'{key}' must be array of strings")
    return value


def _sort(req: Req, default: dict[str, int]) -> dict[str, int]:
    raw = req.params.get("sort")
    if raw in (None, ""):
        return default
    try:
        sort = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise failure("Invalid sort parameter provided") from None
    if not isinstance(sort, dict) or not all(v in (1, -1) for v in sort.values()):
        raise failure("Invalid sort parameter provided")
    return sort


def _sorted(items: list[dict[str, Any]], sort: dict[str, int]) -> list[dict[str, Any]]:
    """Mongo-like sort; equal keys keep insertion order, reversed for a descending key (so a
    tie on `ts` still lists the newer document first)."""
    for key, direction in reversed(list(sort.items())):
        ordered = items if direction > 0 else items[::-1]
        try:
            items = sorted(
                ordered,
                key=lambda d, k=key: (
                    d.get(k) is not None,
                    d.get(k) if d.get(k) is not None else 0,
                ),
                reverse=direction < 0,
            )
        except TypeError:  # values of kinds Python cannot order (documents, mixed types)
            items = sorted(ordered, key=lambda d, k=key: str(d.get(k)), reverse=direction < 0)
    return items


def register(rest: Rest) -> None:
    st, R = rest.state, rest.route
    lc: Livechat = st.livechat

    def need(req: Req, *permissions: str) -> User:
        """`permissionsRequired` (all of them): a 403 before the handler runs."""
        user = req.user
        if user is None:
            raise rest.unauthorized()
        if not all(st.has_permission(user, p) for p in permissions):
            raise rest.forbidden()
        return user

    def guest(token: Any) -> Visitor:
        visitor = lc.visitor_by_token(token)
        if visitor is None:
            raise LivechatError("invalid-token")
        return visitor

    # ---- visitor side (no auth) --------------------------------------------------------------

    @R("POST", "livechat/visitor", auth=False)
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
        found = lc.register_visitor(
            v["token"],
            name=v.get("name"),
            email=v.get("email"),
            phone=v.get("phone"),
            department=v.get("department"),
            username=v.get("username"),
            custom=custom,
        )
        return {"visitor": found.doc()}

    @R("GET", "livechat/room", auth=False)
    def room(req: Req) -> dict:
        token = req.params.get("token")
        if not isinstance(token, str):
            raise failure("Match error: Missing key 'token'")
        visitor = guest(token)
        rid = req.params.get("rid")
        if rid:
            found = lc.open_room_of(token, str(rid))
            if found is None:
                raise LivechatError("invalid-room")
            return {"room": found, "newRoom": False}
        existing = lc.open_room_of(token)
        if existing is not None:
            return {"room": existing, "newRoom": False}
        extra = {k: v for k, v in req.params.items() if k not in ("token", "rid", "agentId")}
        source = "widget" if req.request.headers.get("x-rocketchat-livechat-token") else "api"
        created = lc.create_room(
            visitor, agent_id=req.str("agentId"), source=source, extra=extra or None
        )
        return {"room": created, "newRoom": True}

    @R("POST", "livechat/message", auth=False)
    def message(req: Req) -> dict:
        token = _string(req, "token", required=True)
        rid = _string(req, "rid", required=True)
        msg = _string(req, "msg", required=True)
        mid = _string(req, "_id")
        visitor = guest(token)
        found = lc.room_of(token, rid)
        if found is None:
            raise LivechatError("invalid-room")
        if not found.get("open"):
            raise LivechatError("room-closed")
        limit = int(st.settings.get("Livechat_message_character_limit") or 0)
        if st.settings.get("Livechat_enable_message_character_limit") and len(msg) > limit:
            raise LivechatError("message-length-exceeds-character-limit")
        return {"message": lc.visitor_message(visitor, found, msg, mid)}

    @R("POST", "livechat/upload", auth=False)
    def upload(req: Req) -> dict:
        """`livechat/upload/:rid` (multipart `file`), the visitor named by `x-visitor-token`."""
        token = req.request.headers.get("x-visitor-token")
        visitor = lc.visitor_by_token(token)
        found = lc.open_room_of(token, req.args[0]) if visitor and req.args else None
        if visitor is None or found is None:
            raise rest.unauthorized()
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
            "uploadedAt": now(),
            "url": f"/file-upload/{fid}/{name}",
            "complete": True,
            "data": up["data"],
        }
        st.files[fid] = f
        fields = rest.file_fields(req, f)
        msg = lc.visitor_message(visitor, found, fields.pop("msg"), extra=fields)
        f["messageId"] = msg["_id"]
        return dict(msg)

    @R("GET", "livechat/messages.history", auth=False)
    def messages_history(req: Req) -> dict:
        rid = req.args[0] if req.args else None
        token = req.params.get("token")
        if not token:
            raise LivechatError("error-token-param-not-provided")
        guest(token)
        found = lc.room_of(str(token), rid)
        if found is None:
            raise LivechatError("invalid-room")
        msgs = st.history(found["_id"], latest=req.date("end"))
        offset = max(0, req.int("offset", 0))
        limit = req.int("limit", 20)
        page = msgs[offset:] if limit <= 0 else msgs[offset : offset + limit]
        return {"messages": page}

    @R("POST", "livechat/room.close", auth=False)
    def room_close(req: Req) -> dict:
        rid = _string(req, "rid", required=True)
        token = _string(req, "token", required=True)
        if not st.settings.get("Omnichannel_allow_visitors_to_close_conversation"):
            raise LivechatError("error-not-allowed-to-close-conversation")
        visitor = guest(token)
        found = lc.room_of(token, rid)
        if found is None:
            raise LivechatError("invalid-room")
        if not found.get("open"):
            raise LivechatError("room-closed")
        comment = "Closed by visitor"
        lc.close(found, comment=comment, visitor=visitor)
        return {"rid": rid, "comment": comment}

    @R("GET", "livechat/agent.info", auth=False)
    def agent_info(req: Req) -> dict:
        if len(req.args) < 2:
            raise not_found()
        rid, token = req.args[0], req.args[1]
        guest(token)
        found = lc.room_of(token, rid)
        if found is None:
            raise LivechatError("invalid-room")
        served = found.get("servedBy") or {}
        agent = st.users.get(served.get("_id", ""))
        if agent is None:
            raise LivechatError("invalid-agent")
        if not st.settings.get("Livechat_show_agent_info"):
            return {"agent": {"hiddenInfo": True}}
        doc: dict[str, Any] = {
            "_id": agent.id,
            "name": agent.name,
            "username": agent.username,
            "status": agent.status,
        }
        if st.settings.get("Livechat_show_agent_email") and agent.email:
            doc["emails"] = [{"address": agent.email, "verified": True}]
        return {"agent": doc}

    # ---- agent side (auth, RC permission checks) ---------------------------------------------

    def with_department(room: dict) -> dict:
        dep = lc.departments.get(room.get("departmentId") or "")
        if dep is None:
            return room
        return {**room, "department": {"_id": dep["_id"], "name": dep["name"]}}

    @R("GET", "livechat/rooms")
    def rooms(req: Req) -> dict:
        user = need(req)
        agents = _strings(req.params.get("agents"), "agents")
        admin = st.has_permission(user, "view-livechat-rooms")
        own = st.has_permission(user, "view-l-room") and agents == [user.id]
        if not (admin or own):
            raise rest.forbidden()
        found = lc.rooms()
        if agents:
            found = [r for r in found if (r.get("servedBy") or {}).get("_id") in agents]
        dep = _string(req, "departmentId")
        if dep:
            found = [r for r in found if r.get("departmentId") == dep]
        is_open = req.params.get("open")
        if is_open in ("true", "false", True, False):
            want = is_open in ("true", True)
            found = [r for r in found if bool(r.get("open")) == want]
        name = _string(req, "roomName")
        if name:
            pattern = re.compile(re.escape(name), re.IGNORECASE)
            found = [r for r in found if pattern.search(r.get("fname") or "")]
        tags = _strings(req.params.get("tags"), "tags")
        if tags:
            found = [r for r in found if set(tags) & set(r.get("tags") or [])]
        found = _sorted(found, _sort(req, {"ts": -1}))
        page = rest._page(req, [with_department(r) for r in found], "rooms")
        return page

    @R("POST", "livechat/room.forward")
    def room_forward(req: Req) -> dict:
        user = need(req, "view-l-room", "transfer-livechat-guest")
        rid = _string(req, "roomId", required=True)
        target_id = _string(req, "userId")
        dep_id = _string(req, "departmentId")
        comment = _string(req, "comment")
        found = st.room(rid)
        if found is None or found["t"] != "l":
            raise LivechatError("error-invalid-room")
        if not found.get("open"):
            raise LivechatError("This_conversation_is_already_closed")
        if target_id:
            target = st.users.get(target_id)
            if target is None:
                raise LivechatError("error-user-is-offline")
            lc.forward_to_agent(found, target, user, comment)
        elif dep_id:
            dep = lc.departments.get(dep_id)
            if dep is None or not dep["enabled"]:
                raise LivechatError("error-forwarding-chat")
            lc.forward_to_department(found, dep, user, comment)
        else:
            raise LivechatError("error-forwarding-chat")
        return {}

    @R("POST", "livechat/room.closeByUser")
    def room_close_by_user(req: Req) -> dict:
        user = need(req, "close-livechat-room")
        rid = _string(req, "rid", required=True)
        comment = _string(req, "comment")
        tags = _strings(req.params.get("tags"), "tags")
        email = req.params.get("transcriptEmail")
        if email is not None and not (
            isinstance(email, dict) and isinstance(email.get("sendToVisitor"), bool)
        ):
            raise invalid("'transcriptEmail' must have required property 'sendToVisitor'")
        found = st.room(rid)
        if found is None or found["t"] != "l":
            raise LivechatError("error-invalid-room")
        if not found.get("open"):
            for r, uid in list(st.subs):
                if r == found["_id"]:
                    st.drop_subscription(found, uid)
            raise LivechatError("error-room-already-closed")
        if (found["_id"], user.id) not in st.subs and not st.has_permission(
            user, "close-others-livechat-room"
        ):
            raise LivechatError("error-not-authorized")
        lc.close(found, comment=comment, user=user, tags=tags, client_action=True)
        return {}

    @R("GET", "livechat")
    def room_messages(req: Req) -> dict:
        """`livechat/:rid/messages`: user messages and `livechat-close`, newest first."""
        if len(req.args) != 2 or req.args[1] != "messages":
            raise not_found()
        user = need(req, "view-l-room")
        found = st.room(req.args[0])
        if found is None or found["t"] != "l":
            raise LivechatError("invalid-room")
        if not st.can_access(user, found):
            raise LivechatError("not-allowed")
        term = (_string(req, "searchTerm") or "").lower()
        msgs = [
            m
            for m in st.messages.get(found["_id"], [])
            if (not m.get("t") or m["t"] == "livechat-close")
            and (not term or term in (m.get("msg") or "").lower())
        ]
        msgs = _sorted(list(msgs), _sort(req, {"ts": -1}))
        offset = max(0, req.int("offset", 0))
        count = req.int("count", 50)
        page = msgs[offset:] if count <= 0 else msgs[offset : offset + count]
        return {"messages": page, "offset": offset, "count": count, "total": len(msgs)}

    @R("POST", "livechat/agent.status")
    def agent_status(req: Req) -> dict:
        user = need(req, "view-l-room")
        status = _string(req, "status")
        if status is not None and status not in ("available", "not-available"):
            raise invalid("'status' must be equal to one of the allowed values")
        agent_id = _string(req, "agentId") or user.id
        agent = st.users.get(agent_id)
        if agent is None or not lc.is_agent(agent):
            raise ApiError(404, {"error": "Agent not found"})
        if not agent.active:
            raise failure("error-user-deactivated")
        new = status or ("not-available" if agent.status_livechat == "available" else "available")
        if new == agent.status_livechat:
            return {"status": new}
        allowed = lc.can_change_status(new)
        if agent.id != user.id:
            if not st.has_permission(user, "manage-livechat-agents"):
                raise rest.forbidden()
            if allowed:
                lc.set_status(agent, new)
                return {"status": new}
            return {"status": agent.status_livechat}
        if not allowed:
            raise failure("error-business-hours-are-closed")
        lc.set_status(agent, new)
        return {"status": new}

    @R("GET", "livechat/room.join")
    def room_join(req: Req) -> dict:
        user = need(req, "view-l-room")
        rid = _string(req, "roomId", required=True)
        found = st.room(rid)
        if found is None or found["t"] != "l":
            raise LivechatError("error-invalid-room")
        if not found.get("open"):
            raise LivechatError("room-closed")
        if not st.can_access(user, found):
            raise LivechatError("error-not-allowed")
        st.add_member(found, user, None, "uj")
        return {}

    @R("GET", "livechat/visitors.info")
    def visitors_info(req: Req) -> dict:
        need(req, "view-l-room")
        vid = _string(req, "visitorId", required=True)
        found = lc.visitors.get(vid)
        if found is None:
            raise LivechatError("visitor-not-found")
        return {"visitor": found.doc()}

    @R("GET", "livechat/department")
    def departments(req: Req) -> dict:
        user = need(req)
        if not (
            st.has_permission(user, "view-livechat-departments")
            or st.has_permission(user, "view-l-room")
        ):
            raise rest.forbidden()
        deps = list(lc.departments.values())
        text = (_string(req, "text") or "").lower()
        if text:
            deps = [d for d in deps if text in d["name"].lower()]
        if req.bool("enabled"):
            deps = [d for d in deps if d["enabled"]]
        return rest._page(req, sorted(deps, key=lambda d: d["name"]), "departments")

    @R("GET", "livechat/agents")
    def agent_departments(req: Req) -> dict:
        """`livechat/agents/:agentId/departments`."""
        if len(req.args) != 2 or req.args[1] != "departments":
            raise not_found()
        need(req, "view-l-room")
        agent = st.users.get(req.args[0])
        only_enabled = req.bool("enabledDepartmentsOnly")
        out = []
        for dep_id, uids in lc.department_agents.items():
            dep = lc.departments[dep_id]
            if agent is None or agent.id not in uids or (only_enabled and not dep["enabled"]):
                continue
            out.append(
                {
                    "_id": f"{dep_id}:{agent.id}",
                    "agentId": agent.id,
                    "departmentId": dep_id,
                    "departmentEnabled": dep["enabled"],
                    "departmentName": dep["name"],
                    "username": agent.username,
                    "count": lc.chat_counts.get(agent.id, 0),
                    "order": 0,
                }
            )
        return {"departments": out}
