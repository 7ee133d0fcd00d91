"""REST `login`, `logout`, `me` (RC `apps/meteor/app/api/server/ApiClass.ts`, `v1/misc.ts`)."""

from __future__ import annotations

from typing import Any

from ..model import User
from .http import ApiError, Req, Routes

routes = Routes()


@routes.route("POST", "login", auth=False)
def login(req: Req) -> dict:
    p = req.params
    user: User | None = None
    if p.get("resume"):
        user = req.st.user_by_resume(str(p["resume"]))
    else:
        key = p.get("user") or p.get("username") or p.get("email")
        if isinstance(key, dict):
            key = key.get("username") or key.get("email")
        password = p.get("password", p.get("pass"))
        candidate = req.st.find_user(key if isinstance(key, str) else None)
        if req.st.check_password(candidate, password):
            user = candidate
    if user is None:
        body: dict[str, Any] = {"error": "unauthorized"}
        if req.api.pre8:
            body.update(status="error", error="Unauthorized", message="Unauthorized")
        raise ApiError(401, body)
    req.user = user
    token = str(p["resume"]) if p.get("resume") else req.st.new_token(user)
    return {
        "status": "success",
        "data": {"userId": user.id, "authToken": token, "me": user.doc(me=True)},
    }


@routes.route("POST,GET", "logout")
def logout(req: Req) -> dict:
    req.user.tokens.pop(req.request.headers.get("X-Auth-Token", ""), None)
    return {"status": "success", "data": {"message": "You've been logged out!"}}


@routes.route("GET", "me")
def me(req: Req) -> dict:
    return req.user.doc(me=True)
