"""REST `livechat/department` and `livechat/agents/:agentId/departments`
(RC `apps/meteor/app/livechat/imports/server/rest/departments.ts`, `agent.ts`)."""

from __future__ import annotations

from .http import Req, Routes
from .params import string_param

routes = Routes()


@routes.route("GET", "livechat/department")
def departments(req: Req) -> dict:
    user = req.need()
    if not (
        req.st.has_permission(user, "view-livechat-departments")
        or req.st.has_permission(user, "view-l-room")
    ):
        raise req.api.forbidden()
    deps = list(req.lc.departments.values())
    text = (string_param(req, "text") or "").lower()
    if text:
        deps = [d for d in deps if text in d["name"].lower()]
    if req.bool("enabled"):
        deps = [d for d in deps if d["enabled"]]
    return req.page(sorted(deps, key=lambda d: d["name"]), "departments")


@routes.route("GET", "livechat/agents/:agentId/departments")
def agent_departments(req: Req) -> dict:
    """`livechat/agents/:agentId/departments`."""
    req.need("view-l-room")
    agent = req.st.users.get(req.path["agentId"])
    only_enabled = req.bool("enabledDepartmentsOnly")
    out = []
    for dep_id, uids in req.lc.department_agents.items():
        dep = req.lc.departments[dep_id]
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
                "count": req.lc.chat_counts.get(agent.id, 0),
                "order": 0,
            }
        )
    return {"departments": out}
