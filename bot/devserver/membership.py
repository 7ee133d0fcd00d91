"""DDP methods that add people to rooms or read a room's history, and `/invite`.

- DDP `addUsersToRoom({rid, users})`, `removeUserFromRoom({rid, username})`,
  `loadHistory(rid, end, limit, ls)` (RC `apps/meteor/app/lib/server/methods/addUsersToRoom.ts`,
  `server/methods/removeUserFromRoom.ts`, `server/methods/loadHistory.ts`);
- the `/invite` slash command (REST `commands.run`), which reports failures only as ephemeral
  messages (RC `app/slashcommands-invite/server/server.ts`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .dates import parse_date
from .ddp_methods import MatchFailed, need_user
from .room_membership import add_users_to_room, remove_user_from_room
from .state import MeteorError, State, User

if TYPE_CHECKING:
    from .ddp import Hub, Session


def load_history(st: State, user: User, params: list) -> Any:
    rid = params[0] if params else None
    end = parse_date(params[1]) if len(params) > 1 else None
    limit = params[2] if len(params) > 2 and isinstance(params[2], int) else 20
    ls = parse_date(params[3]) if len(params) > 3 else None
    room = st.room(rid)
    if room is None or not st.can_access(user, room):
        return False
    msgs = st.history(room["_id"], latest=end)
    page = msgs[:limit] if limit > 0 else msgs
    first_unread, not_loaded = None, 0
    if ls is not None and page:
        oldest = page[-1]["ts"]
        if oldest > ls:
            unread = [m for m in st.messages.get(room["_id"], []) if ls < m["ts"] < oldest]
            not_loaded = len(unread)
            first_unread = unread[0] if unread else None
    return {"messages": page, "firstUnread": first_unread, "unreadNotLoaded": not_loaded}


def invite_command(st: State, user: User, room: dict[str, Any], params: str) -> None:
    """`/invite @a @b`: every problem becomes an ephemeral message to the caller."""
    names = [n.lstrip("@") for n in re.split(r"[\s,]+", params or "") if n.strip("@ ")]
    if not names:
        return
    users = [u for n in names if (u := st.find_user(n)) is not None and u.username == n]
    if not users:
        st.ephemeral(user, room["_id"], f"User {' @'.join(names)} does not exist.")
        return
    for target in users:
        if (room["_id"], target.id) in st.subs:
            st.ephemeral(user, room["_id"], f"Username {target.username} is already in here.")
            continue
        try:
            add_users_to_room(st, user, room["_id"], [target.username])
        except MeteorError as e:
            st.ephemeral(user, room["_id"], e.reason)


def add_users(hub: Hub, s: Session, params: list) -> bool:
    user = need_user(s, "addUsersToRoom")
    data = params[0] if params else None
    if not isinstance(data, dict) or not isinstance(data.get("rid"), str):
        raise MatchFailed()
    users = data.get("users")
    if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
        raise MatchFailed()
    return add_users_to_room(hub.state, user, data["rid"], users)


def remove_user(hub: Hub, s: Session, params: list) -> bool:
    user = need_user(s, "removeUserFromRoom")
    data = params[0] if params else None
    if not isinstance(data, dict) or not isinstance(data.get("rid"), str):
        raise MatchFailed()
    if not isinstance(data.get("username"), str):
        raise MatchFailed()
    return remove_user_from_room(hub.state, user, data["rid"], data["username"])


def load_history_method(hub: Hub, s: Session, params: list) -> Any:
    user = need_user(s, "loadHistory")
    if not params or not isinstance(params[0], str):
        raise MatchFailed()
    return load_history(hub.state, user, params)


def users_of_room(hub: Hub, s: Session, params: list) -> dict:
    """getUsersOfRoom(rid, showAll): the members, online ones only unless showAll."""
    user = need_user(s, "getUsersOfRoom")
    if not params or not isinstance(params[0], str):
        raise MatchFailed()
    room = hub.state.room(params[0])
    if room is None or not hub.state.can_access(user, room):
        raise MeteorError("error-not-allowed", "Not allowed", {"method": "getUsersOfRoom"})
    show_all = bool(params[1]) if len(params) > 1 else False
    members = [u for u in hub.state.members(room["_id"]) if show_all or u.status != "offline"]
    records = [
        {
            "_id": u.id,
            "username": u.username,
            "name": u.name,
            "status": u.status,
            "utcOffset": u.utc_offset,
        }
        for u in sorted(members, key=lambda u: u.username)
    ]
    return {"total": len(records), "records": records}


METHODS = {
    "addUsersToRoom": add_users,
    "removeUserFromRoom": remove_user,
    "loadHistory": load_history_method,
    "getUsersOfRoom": users_of_room,
}
