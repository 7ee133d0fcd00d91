"""DDP methods a client reads roles, permissions and public settings with (RC `apps/meteor/
server/methods/{getUserRoles,getRoomRoles}.ts`, `app/authorization/server/streamer/
permissions/index.ts`, `app/lib/server/publications/settings.ts`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dates import parse_date
from .ddp_methods import MatchFailed, need_user
from .model import MeteorError
from .seed import ROLES
from .settings import HIDDEN, is_public

if TYPE_CHECKING:
    from .ddp import Hub, Session

#: RC shows only "public" roles here: global ones that have a description
PUBLIC_ROLES = {r for r, (scope, desc) in ROLES.items() if scope == "Users" and desc}


def get_user_roles(hub: Hub, s: Session, params: list) -> list[dict[str, Any]]:
    need_user(s, "getUserRoles")
    with hub.state.lock:
        users = sorted(hub.state.users.values(), key=lambda u: u.username)
        return [
            {
                "_id": u.id,
                "username": u.username,
                "roles": [r for r in u.roles if r in PUBLIC_ROLES],
            }
            for u in users
            if PUBLIC_ROLES & set(u.roles)
        ]


def get_room_roles(hub: Hub, s: Session, params: list) -> list[dict[str, Any]]:
    user = need_user(s, "getRoomRoles")
    if not params or not isinstance(params[0], str):
        raise MatchFailed()
    st = hub.state
    room = st.room(params[0])
    if room is None or not st.can_access(user, room):
        raise MeteorError("error-not-allowed", "Not allowed", {"method": "getRoomRoles"})
    with st.lock:
        out = []
        for (rid, uid), sub in st.subs.items():
            roles = [r for r in sub.get("roles") or [] if r in ("owner", "moderator", "leader")]
            member = st.users.get(uid)
            if rid == room["_id"] and roles and member is not None:
                out.append({"_id": sub["_id"], "rid": rid, "u": member.ref, "roles": roles})
        return out


def _since(params: list) -> Any:
    return parse_date(params[0]) if params and isinstance(params[0], dict) else None


def permissions_get(hub: Hub, s: Session, params: list) -> Any:
    need_user(s, "permissions/get")
    st = hub.state
    with st.lock:
        table = [
            {"_id": p, "roles": list(r), "_updatedAt": st.permissions_updated}
            for p, r in sorted(st.permissions.items())
        ]
    since = _since(params)
    if since is None:
        return table
    return {"update": table if st.permissions_updated > since else [], "remove": []}


def public_settings_get(hub: Hub, s: Session, params: list) -> Any:
    """No login needed: the public settings, as the web client and the widget read them."""
    st = hub.state
    with st.lock:
        items = [
            {"_id": k, "value": v}
            for k, v in sorted(st.settings.items())
            if k not in HIDDEN and is_public(k)
        ]
    return items if _since(params) is None else {"update": items, "remove": []}


METHODS = {
    "getUserRoles": get_user_roles,
    "getRoomRoles": get_room_roles,
    "permissions/get": permissions_get,
    "public-settings/get": public_settings_get,
}
