"""REST `subscriptions.*` (RC `apps/meteor/app/api/server/v1/subscriptions.ts`)."""

from __future__ import annotations

from .http import Req, Routes
from .lookups import any_room

routes = Routes()


@routes.route("GET", "subscriptions.get")
def subscriptions_get(req: Req) -> dict:
    since = req.date("updatedSince")
    subs = [
        s
        for (_, uid), s in req.st.subs.items()
        if uid == req.user.id and (since is None or s["_updatedAt"] > since)
    ]
    gone = [
        {"_id": g["_id"], "_deletedAt": g["_deletedAt"]}
        for g in req.st.removed_subs
        if g["u"]["_id"] == req.user.id and (since is None or g["_deletedAt"] > since)
    ]
    return {"update": subs, "remove": gone if since else []}


@routes.route("GET", "subscriptions.getOne")
def subscriptions_get_one(req: Req) -> dict:
    return {"subscription": req.st.sub(req.str("roomId", required=True), req.user.id)}


@routes.route("POST", "subscriptions.read")
def subscriptions_read(req: Req) -> dict:
    room = any_room(req, req.str("rid") or req.str("roomId"))
    req.st.mark_read(req.user, room)
    return {}
