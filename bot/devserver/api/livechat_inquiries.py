"""REST `livechat/inquiries.*`: the queue as RC shows it to managers and agents, and taking
an inquiry (RC `apps/meteor/app/livechat/imports/server/rest/inquiries.ts`,
`server/api/lib/inquiries.ts`, `server/methods/takeInquiry.ts`). `inquiries.queued` was
removed in 7.0 (use `inquiries.queuedForUser`), so 8.x answers it 404 like any unknown path."""

from __future__ import annotations

from typing import Any

from ..model import MeteorError
from .http import Req, Routes, failure
from .params import sort_param, sorted_by, string_param

routes = Routes()


def _queued(req: Req, department: str | None) -> list[dict[str, Any]]:
    found = [i for i in req.lc.inquiries.values() if i["status"] == "queued"]
    if department:
        dep = req.lc.department(department)
        found = [i for i in found if dep is not None and i.get("department") == dep["_id"]]
    return sorted_by(found, sort_param(req, {"ts": -1}))


@routes.get("livechat/inquiries.list")
def inquiries_list(req: Req) -> dict:
    req.need("view-livechat-manager")
    fields = ("_id", "rid", "name", "ts", "status", "department")
    found = [{k: i[k] for k in fields if k in i} for i in _queued(req, req.str("department"))]
    return req.page(found, "inquiries")


def _visible_to(req: Req, inquiry: dict[str, Any]) -> bool:
    """An agent sees the public queue and its own departments' (RC's findInquiries)."""
    dep = inquiry.get("department")
    return not dep or req.user.id in req.lc.department_agents.get(dep, [])


@routes.get("livechat/inquiries.queuedForUser")
def inquiries_queued_for_user(req: Req) -> dict:
    req.need("view-l-room")
    found = [i for i in _queued(req, req.str("department")) if _visible_to(req, i)]
    return req.page(found, "inquiries")


@routes.get("livechat/inquiries.getOne")
def inquiries_get_one(req: Req) -> dict:
    req.need("view-l-room")
    rid = req.str("roomId")
    if not rid:
        raise failure("The 'roomId' param is required")
    return {"inquiry": req.lc.inquiries.get(rid)}


@routes.post("livechat/inquiries.take")
def inquiries_take(req: Req) -> dict:
    req.need("view-l-room")
    inquiry_id = string_param(req, "inquiryId", required=True)
    user_id = string_param(req, "userId")
    agent = req.st.users.get(user_id) if user_id else req.user
    if agent is None:
        raise failure("The user is invalid")
    method = {"method": "livechat:takeInquiry"}
    inquiry = next((i for i in req.lc.inquiries.values() if i["_id"] == inquiry_id), None)
    if inquiry is None:
        raise MeteorError("error-not-found", "Inquiry not found", method)
    if inquiry["status"] == "taken":
        raise MeteorError("error-inquiry-taken", "Inquiry already taken", method)
    if not req.lc.is_agent(agent):
        raise MeteorError("error-user-is-not-agent", "User is not an Omnichannel Agent", method)
    room = req.st.room(inquiry["rid"])
    if room is None or not room.get("open"):
        raise MeteorError("error-room-closed", "Room closed", method)
    req.lc.assign(room, agent)
    return {"inquiry": inquiry}
