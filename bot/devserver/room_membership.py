"""RC's `addUsersToRoom` and `removeUserFromRoom` rules, shared by DDP, REST and `/invite`."""

from __future__ import annotations

from typing import Any

from .state import MeteorError, State, User


def add_users_to_room(st: State, actor: User, rid: Any, usernames: list[Any]) -> bool:
    """RC's addUsersToRoom method, for every room type; on `l` the only way in is being
    subscribed with the room-scoped `add-user-to-joined-room`."""
    method = {"method": "addUsersToRoom"}
    room = st.room(rid)
    if room is None:
        raise MeteorError("error-invalid-room", "Invalid room", method)
    if room["t"] == "d":
        raise MeteorError(
            "error-cant-invite-for-direct-room", "Can't invite user to direct rooms", method
        )
    joined = (room["_id"], actor.id) in st.subs
    allowed = (
        (joined and st.has_permission(actor, "add-user-to-joined-room", room["_id"]))
        or (room["t"] == "c" and st.has_permission(actor, "add-user-to-any-c-room"))
        or (room["t"] == "p" and st.has_permission(actor, "add-user-to-any-p-room"))
    )
    if not allowed:
        raise MeteorError("error-not-allowed", "Not allowed", method)
    for name in usernames:
        user = st.find_user(name) if isinstance(name, str) else None
        if user is None or user.username.lower() != str(name).lower().lstrip("@"):
            raise MeteorError("error-invalid-username", "Invalid username", method)
        if (room["_id"], user.id) in st.subs:
            st.ephemeral(actor, room["_id"], f"Username {user.username} is already in here.")
            continue
        if room["t"] == "l":
            if not room.get("open"):
                raise MeteorError("error-room-closed", "Room closed", method)
            if not st.has_permission(user, "view-l-room"):
                raise MeteorError(
                    "error-user-is-not-agent", "User is not an Omnichannel Agent", method
                )
        st.add_member(room, user, actor, "au")
    return True


def remove_user_from_room(st: State, actor: User, rid: Any, username: Any) -> bool:
    """RC's removeUserFromRoom: `remove-user` in the room, and never on `l` or `d` rooms
    (their room types do not allow the REMOVE_USER action)."""
    method = {"method": "removeUserFromRoom"}
    room = st.room(rid)
    if room is None or not st.has_permission(actor, "remove-user", room["_id"]):
        raise MeteorError("error-not-allowed", "Not allowed", method)
    if room["t"] in ("l", "d"):
        raise MeteorError("error-not-allowed", "Not allowed", method)
    user = st.find_user(username) if isinstance(username, str) else None
    if user is None or (room["_id"], user.id) not in st.subs:
        raise MeteorError("error-user-not-in-room", "User is not in this room", method)
    st.remove_member(room, user, actor, "ru")
    return True
