"""REST `settings`, `settings/:_id` (view/edit-privileged-setting) and `settings.public` (no
login), RC `apps/meteor/app/api/server/v1/settings.ts`."""

from __future__ import annotations

from typing import Any

from ..settings import HIDDEN, is_public
from .http import ApiError, Req, Routes

routes = Routes()


def listed(req: Req, keys: set[str] | None, privileged: bool) -> list[dict[str, Any]]:
    with req.st.lock:
        items = sorted(req.st.settings.items())
    return [
        {"_id": k, "value": v}
        for k, v in items
        if k not in HIDDEN and (privileged or is_public(k)) and (keys is None or k in keys)
    ]


def ids(req: Req) -> set[str] | None:
    raw = req.params.get("_id")
    if not isinstance(raw, str) or not raw:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def page(req: Req, items: list[dict[str, Any]]) -> dict[str, Any]:
    out = req.page(items, "settings")
    out["count"] = len(out["settings"])
    return out


@routes.get("settings")
def settings_list(req: Req) -> dict:
    privileged = req.st.has_permission(req.user, "view-privileged-setting")
    return page(req, listed(req, ids(req), privileged))


@routes.get("settings/:_id")
def setting_get(req: Req) -> dict:
    key = req.path["_id"]
    if not req.st.has_permission(req.user, "view-privileged-setting"):
        raise req.api.forbidden()
    if key not in req.st.settings or key in HIDDEN:
        raise ApiError(400, {})
    return {"_id": key, "value": req.st.settings[key]}


@routes.post("settings/:_id")
def setting_set(req: Req) -> dict:
    key = req.path["_id"]
    if not req.st.has_permission(req.user, "edit-privileged-setting"):
        raise req.api.forbidden()
    if key not in req.st.settings or "value" not in req.params:
        raise ApiError(400, {})
    with req.st.lock:
        req.st.settings[key] = req.params["value"]
    return {}


@routes.get("settings.public", auth=False)
def settings_public(req: Req) -> dict:
    return page(req, listed(req, ids(req), False))
