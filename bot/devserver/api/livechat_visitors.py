"""REST for agents about visitors: search, pages visited, chat history, contact by e-mail or
phone (RC `apps/meteor/app/livechat/imports/server/rest/visitors.ts`, `server/api/v1/
contact.ts`, `server/api/lib/visitors.ts`)."""

from __future__ import annotations

from typing import Any

from ..livechat_model import LivechatError, Visitor
from .http import Req, Routes
from .params import sort_param, sorted_by

routes = Routes()


def _matches(v: Visitor, term: str) -> bool:
    term = term.lower()
    texts = [v.username, v.name or "", v.email or "", v.phone or ""]
    return any(term in t.lower() for t in texts)


@routes.get("livechat/visitors.search")
def visitors_search(req: Req) -> dict:
    req.need("view-l-room")
    term = req.str("term") or ""
    found = [v.doc() for v in req.lc.visitors.values() if not term or _matches(v, term)]
    return req.page(sorted_by(found, sort_param(req, {"ts": -1})), "visitors")


def _room_for_agent(req: Req, rid: str) -> dict[str, Any]:
    room = req.st.room(rid)
    if room is None or room["t"] != "l":
        raise LivechatError("invalid-room")
    if not req.st.can_access(req.user, room):
        raise req.api.forbidden()
    return room


@routes.get("livechat/visitors.pagesVisited/:roomId")
def pages_visited(req: Req) -> dict:
    req.need("view-l-room")
    room = _room_for_agent(req, req.path["roomId"])
    pages = [
        m
        for m in req.st.messages.get(room["_id"], [])
        if m.get("t") == "livechat_navigation_history"
    ]
    return req.page(sorted_by(pages, sort_param(req, {"ts": -1})), "pages")


@routes.get("livechat/visitors.chatHistory/room/:roomId/visitor/:visitorId")
def chat_history(req: Req) -> dict:
    req.need("view-l-room")
    _room_for_agent(req, req.path["roomId"])
    vid = req.path["visitorId"]
    rooms = [r for r in req.lc.rooms() if r["v"]["_id"] == vid]
    return req.page(sorted_by(rooms, sort_param(req, {"ts": -1})), "history")


@routes.get("omnichannel/contact.search")
def contact_search(req: Req) -> dict:
    req.need("view-l-room")
    email, phone = req.str("email"), req.str("phone")
    if not email and not phone:
        raise LivechatError("error-invalid-params")
    for v in req.lc.visitors.values():
        if (email and (v.email or "") == email.lower()) or (phone and v.phone == phone):
            return {"contact": v.doc()}
    return {"contact": None}
