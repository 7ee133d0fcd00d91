"""DDP methods of accounts, messages and rooms (RC `apps/meteor/server/methods/*`,
`app/lib/server/methods/*`): each is `fn(hub, session, params)`; `METHODS` maps the names."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .dates import parse_date
from .model import STATUS_CODES, MeteorError, User

if TYPE_CHECKING:
    from .ddp import Hub, Session

Method = Callable[["Hub", "Session", list], Any]

SEND_MESSAGE_KEYS = {
    "_id",
    "rid",
    "msg",
    "tmid",
    "tshow",
    "ts",
    "t",
    "bot",
    "content",
    "e2e",
    "e2eMentions",
    "customFields",
    "federation",
    "groupable",
    "sentByEmail",
}


class MatchFailed(MeteorError):
    def __init__(self) -> None:
        super().__init__(400, "Match failed")


def need_user(s: Session, method: str) -> User:
    if s.user is None:
        raise MeteorError("error-invalid-user", "Invalid user", {"method": method})
    return s.user


def login(hub: Hub, s: Session, params: list) -> dict:
    st = hub.state
    if not params or not isinstance(params[0], dict):
        raise MatchFailed()
    p = params[0]
    user: User | None = None
    kind = "password"
    token: str | None = None
    if "resume" in p:
        kind = "resume"
        token = p["resume"] if isinstance(p["resume"], str) else None
        user = st.user_by_resume(token) if token else None
        if user is None:
            raise MeteorError(403, "You've been logged out by the server. Please log in again.")
    elif "password" in p and "user" in p:
        who = p["user"]
        key = (
            who
            if isinstance(who, str)
            else (who.get("username") or who.get("email") or who.get("id"))
            if isinstance(who, dict)
            else None
        )
        candidate = st.find_user(key) if isinstance(key, str) else None
        if st.check_password(candidate, p["password"]):
            user = candidate
    else:
        raise MeteorError(400, "Unrecognized options for login request")
    if user is None:
        raise MeteorError(401, "Incorrect login or password")
    if token is None:
        token = st.new_token(user)
    previous = s.user
    s.user = user
    if previous is not user:
        if previous is not None:
            st.connection_closed(previous)
        st.connection_opened(user)
    return {
        "id": user.id,
        "token": token,
        "tokenExpires": st.token_expires(user.tokens[token]),
        "type": kind,
    }


def logout(hub: Hub, s: Session, params: list) -> None:
    if s.user is not None:
        user, s.user = s.user, None
        hub.state.connection_closed(user)


def send_message(hub: Hub, s: Session, params: list) -> Any:
    user = need_user(s, "sendMessage")
    if not params or not isinstance(params[0], dict):
        raise MatchFailed()
    m = params[0]
    if set(m) - SEND_MESSAGE_KEYS or not isinstance(m.get("rid"), str):
        raise MatchFailed()
    if "msg" in m and not isinstance(m["msg"], str):
        raise MatchFailed()
    room = hub.state.room(m["rid"])
    if room is None or not hub.state.can_access(user, room):
        raise MeteorError("error-not-allowed", "Not allowed", {"method": "sendMessage"})
    ts = m.get("ts")
    fields = {k: v for k, v in m.items() if k not in ("rid", "ts")}
    try:
        # Beyond 60 s RC refuses; between 10 and 60 s it silently uses server time.
        stamp = ts.get("$date") if isinstance(ts, dict) else None
        if isinstance(stamp, int | float) and abs(stamp / 1000 - time.time()) > 60:
            raise MeteorError("error-message-ts-out-of-sync", "Message ts is out of sync")
        return hub.state.post_message(user, room, fields)
    except MeteorError as e:
        if e.error == "error-not-allowed":
            raise
        # Current RC swallows other failures and explains them in an ephemeral message.
        hub.state.ephemeral(user, room["_id"], e.reason)
        return None


def update_message(hub: Hub, s: Session, params: list) -> None:
    user = need_user(s, "updateMessage")
    m = params[0]
    msg = hub.state.find_message(m["_id"])
    if msg is None or not isinstance(m.get("msg"), str):
        raise MeteorError("error-invalid-message", "Invalid message")
    hub.state.update_message(user, msg, m["msg"])


def delete_message(hub: Hub, s: Session, params: list) -> None:
    user = need_user(s, "deleteMessage")
    msg = hub.state.find_message(params[0]["_id"])
    if msg is None:
        raise MeteorError("error-invalid-message", "Invalid message", {"method": "deleteMessage"})
    hub.state.delete_message(user, msg)


def create_direct_message(hub: Hub, s: Session, params: list) -> dict:
    user = need_user(s, "createDirectMessage")
    others = []
    for name in params:
        if not isinstance(name, str):
            raise MatchFailed()
        u = hub.state.find_user(name)
        if u is None:
            raise MeteorError(
                "error-invalid-user", "Invalid user", {"method": "createDirectMessage"}
            )
        others.append(u)
    room = hub.state.direct_room(user, others)
    return {"rid": room["_id"], **{k: v for k, v in room.items() if k != "_id"}}


def room_id_by_name_or_id(hub: Hub, s: Session, params: list) -> str:
    user = need_user(s, "getRoomIdByNameOrId")
    key = params[0]
    if not isinstance(key, str):
        raise MatchFailed()
    room = hub.state.room(key) or hub.state.room_by_name(key)
    if room is None or not hub.state.can_access(user, room):
        raise MeteorError("error-not-allowed", "Not allowed", {"method": "getRoomIdByNameOrId"})
    return room["_id"]


def room_name_by_id(hub: Hub, s: Session, params: list) -> str:
    user = need_user(s, "getRoomNameById")
    room = hub.state.room(params[0])
    if room is None or not hub.state.can_access(user, room):
        raise MeteorError("error-not-allowed", "Not allowed", {"method": "getRoomNameById"})
    return room.get("name") or ""


def join_room(hub: Hub, s: Session, params: list) -> bool:
    user = need_user(s, "joinRoom")
    room = hub.state.room(params[0]) if isinstance(params[0], str) else None
    if room is None:
        raise MeteorError("error-invalid-room", "Invalid room", {"method": "joinRoom"})
    if room["t"] != "c":
        raise MeteorError("error-not-allowed", "Not allowed", {"method": "joinRoom"})
    hub.state.add_member(room, user, None, "uj")
    return True


def leave_room(hub: Hub, s: Session, params: list) -> None:
    user = need_user(s, "leaveRoom")
    room = hub.state.room(params[0])
    if room is None:
        raise MeteorError("error-invalid-room", "Invalid room", {"method": "leaveRoom"})
    hub.state.remove_member(room, user, None, "ul")


def set_reaction(hub: Hub, s: Session, params: list) -> None:
    user = need_user(s, "setReaction")
    emoji, mid = params[0], params[1]
    if not isinstance(emoji, str) or not isinstance(mid, str):
        raise MatchFailed()
    msg = hub.state.find_message(mid)
    if msg is None:
        raise MeteorError("error-not-allowed", "Not allowed", {"method": "setReaction"})
    hub.state.react(user, msg, emoji, params[2] if len(params) > 2 else None)


def rooms_get(hub: Hub, s: Session, params: list) -> Any:
    user = need_user(s, "rooms/get")
    rooms = [hub.state.rooms[rid] for (rid, uid) in list(hub.state.subs) if uid == user.id]
    if params and isinstance(params[0], dict) and "$date" in params[0]:
        since = params[0]["$date"]
        rooms = [r for r in rooms if r["_updatedAt"].timestamp() * 1000 > since]
        return {"update": rooms, "remove": []}
    return rooms


def subscriptions_get(hub: Hub, s: Session, params: list) -> Any:
    """RC's `subscriptions/get`: the list, or `{update, remove}` since a `{$date}`."""
    user = need_user(s, "subscriptions/get")
    subs = [sub for (_, uid), sub in list(hub.state.subs.items()) if uid == user.id]
    since = parse_date(params[0]) if params and isinstance(params[0], dict) else None
    if since is None:
        return subs
    removed = [
        {"_id": g["_id"], "_deletedAt": g["_deletedAt"]}
        for g in hub.state.removed_subs
        if g["u"]["_id"] == user.id and g["_deletedAt"] > since
    ]
    return {"update": [x for x in subs if x["_updatedAt"] > since], "remove": removed}


def read_messages(hub: Hub, s: Session, params: list) -> None:
    user = need_user(s, "readMessages")
    room = hub.state.room(params[0])
    if room is not None:
        hub.state.mark_read(user, room)


def set_default_status(hub: Hub, s: Session, params: list) -> bool | None:
    if s.user is None:
        return None
    status = params[0]
    if not isinstance(status, str) or status not in STATUS_CODES:
        raise MatchFailed()
    hub.state.set_status(s.user, status)
    return True


def presence(hub: Hub, s: Session, status: str) -> None:
    if s.user is not None:
        hub.state.set_status(s.user, status, default=False)


def notify_room(hub: Hub, s: Session, params: list) -> None:
    if len(params) < 2 or not isinstance(params[0], str):
        return None
    rid, _, event = params[0].partition("/")
    room = hub.state.room(rid)
    if s.user is None:
        # A visitor's typing: `[<rid>/typing, username, typing, {token}]`, allowed in its own room.
        extra = params[-1] if isinstance(params[-1], dict) else {}
        token = extra.get("token") or s.livechat_token
        if (
            event == "typing"
            and room is not None
            and room["t"] == "l"
            and token
            and room["v"]["token"] == token
            and params[1] == room["v"]["username"]
        ):
            args = [a for a in params[2:] if not isinstance(a, dict)]  # the token stays here
            hub.publish(("typing", room, params[1], args, s, event))
        return None
    if (
        event in ("user-activity", "typing")
        and room
        and params[1] == s.user.username
        and hub.state.can_access(s.user, room)
    ):
        hub.publish(("typing", room, s.user.username, list(params[2:]), s, event))
    return None


# ---- subscriptions -----------------------------------------------------------------------

#: DDP method name -> handler(hub, session, params)
METHODS: dict[str, Method] = {
    "login": login,
    "logout": logout,
    "sendMessage": send_message,
    "updateMessage": update_message,
    "deleteMessage": delete_message,
    "createDirectMessage": create_direct_message,
    "getRoomIdByNameOrId": room_id_by_name_or_id,
    "getRoomNameById": room_name_by_id,
    "joinRoom": join_room,
    "leaveRoom": leave_room,
    "setReaction": set_reaction,
    "rooms/get": rooms_get,
    "subscriptions/get": subscriptions_get,
    "readMessages": read_messages,
    "UserPresence:setDefaultStatus": set_default_status,
    "UserPresence:online": lambda hub, s, p: presence(hub, s, "online"),
    "UserPresence:away": lambda hub, s, p: presence(hub, s, "away"),
    "stream-notify-room": notify_room,
    "stream-notify-user": lambda hub, s, p: None,
}
