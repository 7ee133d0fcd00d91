"""REST that sets up an omnichannel desk: `livechat/users/:type` (agents, managers) and
`livechat/department` create/read/update/delete (RC `apps/meteor/app/livechat/imports/server/
rest/{users,departments}.ts`, `server/lib/{Livechat,departmentsLib}.ts`)."""

from __future__ import annotations

from typing import Any

from ..livechat_model import LivechatError
from ..model import MeteorError, User, random_id
from .http import Req, Routes, failure, invalid
from .params import string_param

routes = Routes()

ROLE_OF = {"agent": "livechat-agent", "manager": "livechat-manager"}


def _role(req: Req) -> str:
    role = ROLE_OF.get(req.path["type"])
    if role is None:
        raise LivechatError("Invalid type")
    return role


def user_doc(user: User) -> dict[str, Any]:
    """The fields RC picks for these endpoints (`_id, username, name, status, statusLivechat,
    emails, livechat`)."""
    doc: dict[str, Any] = {
        "_id": user.id,
        "username": user.username,
        "name": user.name,
        "status": user.status,
        "statusLivechat": user.status_livechat,
        "emails": [{"address": user.email, "verified": True}] if user.email else [],
    }
    return doc


@routes.get("livechat/users/:type")
def users_list(req: Req) -> dict:
    req.need("manage-livechat-agents")
    role = _role(req)
    text = (req.str("text") or "").lower()
    users = sorted(
        (u for u in req.st.users.values() if role in u.roles),
        key=lambda u: u.username,
    )
    if text:
        users = [u for u in users if text in u.username.lower() or text in u.name.lower()]
    return req.page([user_doc(u) for u in users], "users")


@routes.post("livechat/users/:type")
def users_add(req: Req) -> dict:
    req.need("view-livechat-manager")
    role = _role(req)
    username = string_param(req, "username", required=True)
    user = req.st.find_user(username)
    if user is None or user.username != username:
        raise MeteorError("error-invalid-user", "Invalid user", {"method": "livechat:addAgent"})
    with req.st.lock:
        if role not in user.roles:
            user.roles.append(role)
        if role == "livechat-agent":
            user.status_livechat = "available"  # RC's addAgent sets the new agent available
    return {"user": user_doc(user)}


@routes.get("livechat/users/:type/:_id")
def user_get(req: Req) -> dict:
    req.need("view-livechat-manager")
    user = req.st.users.get(req.path["_id"])
    if user is None:
        raise failure("User not found")
    return {"user": user_doc(user) if _role(req) in user.roles else None}


@routes.route("DELETE", "livechat/users/:type/:_id")
def user_remove(req: Req) -> dict:
    req.need("view-livechat-manager")
    role = _role(req)
    user = req.st.users.get(req.path["_id"])
    if user is None or role not in user.roles:
        raise failure("error-user-not-found" if user is None else "User is not a " + role)
    with req.st.lock:
        user.roles.remove(role)
        if role == "livechat-agent":
            user.status_livechat = "not-available"
            for uids in req.lc.department_agents.values():
                if user.id in uids:
                    uids.remove(user.id)
    return {}


# ---- departments --------------------------------------------------------------------------

DEPARTMENT_FIELDS = {
    "enabled": bool,
    "name": str,
    "description": str,
    "showOnRegistration": bool,
    "showOnOfflineForm": bool,
    "email": str,
    "requestTagBeforeClosingChat": bool,
    "chatClosingTags": list,
    "offlineMessageChannelName": str,
}


def _department_body(req: Req) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    dep = req.params.get("department")
    if not isinstance(dep, dict):
        raise invalid("must have required property 'department'")
    for key in ("enabled", "name", "showOnRegistration", "showOnOfflineForm", "email"):
        if key not in dep:
            raise invalid(f"must have required property '{key}'")
    for key, kind in DEPARTMENT_FIELDS.items():
        if key in dep and not isinstance(dep[key], kind):
            raise invalid(f"'department.{key}' must be {kind.__name__}")
    agents = req.params.get("agents")
    if agents is not None and not (
        isinstance(agents, list)
        and all(isinstance(a, dict) and isinstance(a.get("agentId"), str) for a in agents)
    ):
        raise invalid("'agents' must be array of {agentId}")
    return {k: v for k, v in dep.items() if k in DEPARTMENT_FIELDS}, agents


def _agents_of(req: Req, dep_id: str) -> list[dict[str, Any]]:
    out = []
    for uid in req.lc.department_agents.get(dep_id, []):
        user = req.st.users.get(uid)
        if user is not None:
            out.append(
                {
                    "_id": f"{dep_id}:{uid}",
                    "agentId": uid,
                    "departmentId": dep_id,
                    "username": user.username,
                    "count": 0,
                    "order": 0,
                    "departmentEnabled": req.lc.departments[dep_id]["enabled"],
                }
            )
    return out


def _set_agents(req: Req, dep_id: str, agents: list[dict[str, Any]]) -> None:
    uids = []
    for a in agents:
        user = req.st.users.get(a["agentId"])
        if user is None or "livechat-agent" not in user.roles:
            raise MeteorError("error-user-is-not-agent", "User is not an Omnichannel Agent")
        uids.append(user.id)
    req.lc.department_agents[dep_id] = uids
    req.lc.departments[dep_id]["numAgents"] = len(uids)


@routes.post("livechat/department")
def department_create(req: Req) -> dict:
    req.need("manage-livechat-departments")
    fields, agents = _department_body(req)
    if req.lc.department(fields["name"]) is not None:
        raise MeteorError("error-duplicated-department-name", "Department name already exists")
    dep_id = random_id()
    with req.st.lock:
        dep = req.lc.add_department(dep_id, fields["name"], (), enabled=fields["enabled"])
        dep.update(fields)
        if agents:
            _set_agents(req, dep_id, agents)
    return {"department": dep, "agents": _agents_of(req, dep_id)}


def _department(req: Req) -> dict[str, Any]:
    dep = req.lc.departments.get(req.path["_id"])
    if dep is None:
        raise MeteorError("error-department-not-found", "Department not found")
    return dep


@routes.get("livechat/department/:_id")
def department_get(req: Req) -> dict:
    user = req.need()
    if not (
        req.st.has_permission(user, "view-livechat-departments")
        or req.st.has_permission(user, "view-l-room")
    ):
        raise req.api.forbidden()
    dep = req.lc.departments.get(req.path["_id"])
    out: dict[str, Any] = {"department": dep}
    if dep is not None and req.bool("includeAgents", True):
        out["agents"] = _agents_of(req, dep["_id"])
    return out


@routes.route("PUT", "livechat/department/:_id")
def department_update(req: Req) -> dict:
    req.need("manage-livechat-departments")
    dep = _department(req)
    fields, agents = _department_body(req)
    with req.st.lock:
        dep.update(fields)
        if agents is not None:
            _set_agents(req, dep["_id"], agents)
    return {"department": dep, "agents": _agents_of(req, dep["_id"])}


@routes.route("DELETE", "livechat/department/:_id")
def department_delete(req: Req) -> dict:
    req.need("manage-livechat-departments", "remove-livechat-department")
    dep = req.lc.departments.get(req.path["_id"])
    if dep is None:
        raise MeteorError(
            "department-not-found", "Department not found", {"method": "livechat:removeDepartment"}
        )
    with req.st.lock:
        req.lc.departments.pop(dep["_id"])
        req.lc.department_agents.pop(dep["_id"], None)
    return {}
