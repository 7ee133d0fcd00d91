"""REST `permissions.*` and `roles.list` (RC `v1/permissions.ts`, `v1/roles.ts`)."""

from __future__ import annotations

from .. import dates
from .http import Req, Routes, failure

routes = Routes()


@routes.route("GET", "permissions.listAll")
def permissions_list(req: Req) -> dict:
    since = req.date("updatedSince")
    if since and since >= req.st.permissions_updated:
        return {"update": [], "remove": []}
    with req.st.lock:
        table = sorted(req.st.permissions.items())
    return {
        "update": [
            {"_id": p, "roles": list(r), "_updatedAt": req.st.permissions_updated} for p, r in table
        ],
        "remove": [],
    }


@routes.route("POST", "permissions.update")
def permissions_update(req: Req) -> dict:
    """RC's `permissions.update {permissions:[{_id, roles}]}` (access-permissions)."""
    if not req.st.has_permission(req.user, "access-permissions"):
        raise req.api.forbidden()
    items = req.params.get("permissions")
    if not isinstance(items, list) or not all(
        isinstance(p, dict)
        and isinstance(p.get("_id"), str)
        and isinstance(p.get("roles"), list)
        and all(isinstance(r, str) for r in p["roles"])
        for p in items
    ):
        raise failure("Invalid body params")
    with req.st.lock:
        if any(p["_id"] not in req.st.permissions for p in items):
            raise failure("Invalid permission")
        for p in items:
            req.st.permissions[p["_id"]] = list(dict.fromkeys(p["roles"]))
        req.st.permissions_updated = dates.now()
        table = sorted(req.st.permissions.items())
    return {"permissions": [{"_id": k, "roles": list(v)} for k, v in table]}


@routes.route("GET", "roles.list")
def roles_list(req: Req) -> dict:
    from ..seed import ROLES

    return {
        "roles": [
            {
                "_id": r,
                "name": r,
                "description": d,
                "scope": s,
                "protected": True,
                "mandatory2fa": False,
            }
            for r, (s, d) in ROLES.items()
        ]
    }
