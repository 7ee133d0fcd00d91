"""REST `users.*` (RC `apps/meteor/app/api/server/v1/users.ts`)."""

from __future__ import annotations

from ..model import MeteorError
from .http import Req, Routes, failure, invalid
from .lookups import target_user

routes = Routes()


@routes.route("GET", "users.info")
def users_info(req: Req) -> dict:
    key = req.str("userId") or req.str("username") or req.str("email") or req.str("importId")
    if not key:
        raise invalid("must match exactly one schema in oneOf")
    user = req.st.find_user(key)
    if user is None:
        raise failure("User not found.")
    doc = user.doc()
    if req.bool("includeUserRooms"):
        doc["rooms"] = [s for (_, uid), s in req.st.subs.items() if uid == user.id]
    return {"user": doc}


@routes.route("GET", "users.list")
def users_list(req: Req) -> dict:
    return req.page([u.doc() for u in req.st.users.values()], "users")


@routes.route("GET", "users.getPresence")
def users_presence(req: Req) -> dict:
    user = (
        req.st.find_user(req.str("userId") or req.str("username"))
        if (req.str("userId") or req.str("username"))
        else req.user
    )
    if user is None:
        raise MeteorError("error-invalid-user", "Invalid user")
    return {
        "presence": user.status,
        "connectionStatus": "online" if user.connections else "offline",
        "lastLogin": user.created_at,
    }


@routes.route("POST", "users.setStatus")
def users_set_status(req: Req) -> dict:
    target = req.user
    if req.str("userId") or req.str("username"):
        target = target_user(req)
        if target.id != req.user.id and "admin" not in req.user.roles:
            raise req.api.forbidden()
    status = req.str("status")
    if status is None and req.params.get("message") is None:
        raise invalid("must have required property 'status'")
    msg = req.params.get("message")
    req.st.set_status(target, status or target.status, text=str(msg) if msg is not None else None)
    return {}


@routes.route("POST", "users.createToken")
def users_create_token(req: Req) -> dict:
    target = target_user(req) if (req.str("userId") or req.str("username")) else req.user
    if target.id != req.user.id and "admin" not in req.user.roles:
        raise req.api.forbidden()
    return {"data": {"userId": target.id, "authToken": req.st.new_token(target)}}


@routes.route("POST", "users.generatePersonalAccessToken")
def users_pat(req: Req) -> dict:
    name = req.str("tokenName", required=True)
    if any(
        t["name"] == name for t in req.user.tokens.values() if t["type"] == "personalAccessToken"
    ):
        raise MeteorError("error-token-already-exists", "A token with this name already exists")
    return {"token": req.st.new_token(req.user, "personalAccessToken", name)}


@routes.route("GET", "users.getPersonalAccessTokens")
def users_pats(req: Req) -> dict:
    return {
        "tokens": [
            {
                "name": t["name"],
                "createdAt": t["when"],
                "lastTokenPart": tok[-6:],
                "bypassTwoFactor": False,
            }
            for tok, t in req.user.tokens.items()
            if t["type"] == "personalAccessToken"
        ]
    }


@routes.post("users.create")
def users_create(req: Req) -> dict:
    """RC `v1/users.ts` users.create (create-user) and `saveUser`'s availability checks."""
    req.need("create-user")
    for key in ("email", "name", "password", "username"):
        if not isinstance(req.params.get(key), str):
            raise invalid(f"must have required property '{key}'")
    username, email = req.params["username"], req.params["email"].strip().lower()
    taken = MeteorError(
        "error-field-unavailable",
        f"{username} is already in use :(",
        {"method": "insertOrUpdateUser", "field": username},
    )
    if req.st.find_user(username) is not None:
        raise taken
    if any(u.email.lower() == email for u in req.st.users.values() if u.email):
        taken.reason = f"{email} is already in use :("
        taken.details = {"method": "insertOrUpdateUser", "field": email}
        raise taken
    roles = req.params.get("roles")
    if roles is not None and not (
        isinstance(roles, list) and all(isinstance(r, str) for r in roles)
    ):
        raise invalid("'roles' must be array of strings")
    uid = req.st.add_user(
        username,
        req.params["password"],
        name=req.params["name"],
        email=email,
        roles=roles or ["user"],
    )
    user = req.st.users[uid]
    if req.params.get("active") is False:
        user.active = False
    return {"user": user.doc()}


@routes.post("users.delete")
def users_delete(req: Req) -> dict:
    req.need("delete-user")
    if not (req.str("userId") or req.str("username")):
        raise MeteorError(
            "error-user-param-not-provided",
            'The required "userId" or "username" param was not provided',
        )
    user = req.st.users.get(req.str("userId") or "") or req.st.find_user(req.str("username"))
    if user is None:
        raise MeteorError(
            "error-invalid-user",
            'The required "userId" or "username" param provided does not match any users',
        )
    st = req.st
    with st.lock:
        # RC's deleteUser: out of every room (DMs go with the user), then gone
        for rid, uid in list(st.subs):
            if uid == user.id:
                st.drop_subscription(st.rooms[rid], uid)
        user.tokens.clear()
        del st.users[user.id]
    return {}
