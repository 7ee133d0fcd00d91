"""In-memory Rocket.Chat state: users, rooms, subscriptions, messages, files, tokens.

Documents are kept as plain dicts shaped like Rocket.Chat's Mongo documents, with `datetime`
values for dates; `wire()` turns them into REST (ISO strings) or DDP (`{$date}`) form at the edge.
Every mutation happens under one lock and reports what changed through `emit`, which the DDP hub
turns into stream frames; the REST and DDP layers never build events themselves.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from . import dates
from .dates import now
from .messages import MessageOps
from .model import (
    BYPASS_ROLES,
    IMPERSONATE_ROLES,
    MAX_MESSAGE_SIZE,
    STATUS_CODES,
    MeteorError,
    User,
    random_id,
    wire,
)

__all__ = [
    "BYPASS_ROLES",
    "IMPERSONATE_ROLES",
    "MAX_MESSAGE_SIZE",
    "STATUS_CODES",
    "MeteorError",
    "State",
    "User",
    "now",
    "random_id",
    "wire",
]


Emit = Callable[[tuple], None]


class State(MessageOps):
    """The whole server's data. Thread-safe; `emit` receives event tuples (see `_emit` calls)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.rooms: dict[str, dict[str, Any]] = {}
        self.subs: dict[tuple[str, str], dict[str, Any]] = {}  # (rid, uid) -> subscription
        self.messages: dict[str, list[dict[str, Any]]] = {}  # rid -> messages in ts order
        # id -> message, for `find_message` (a scan of every room per `sendMessage` made the
        # server slower with every message stored). Messages put straight into `messages`
        # (tests seeding history) are found by the scan that follows a miss.
        self._by_id: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.removed_subs: list[dict[str, Any]] = []  # tombstones for subscriptions.get
        self.emit: Emit = lambda event: None
        self.permissions_updated = dates.now()
        from .seed import DEFAULT_PERMISSIONS
        from .settings import default_values

        # permission id -> roles holding it (in RC's order); starts as RC's defaults, seeds
        # and test hooks edit it
        self.permissions: dict[str, list[str]] = {
            p: list(roles) for p, roles in DEFAULT_PERMISSIONS.items()
        }
        self.settings: dict[str, Any] = default_values()
        self.livechat: Any = None  # bot.devserver.livechat.Livechat, attached by the server

    # ---- permissions and settings ----------------------------------------------------------

    def has_permission(self, user: User | None, permission: str, rid: str | None = None) -> bool:
        """RC's hasPermission: the user's roles, plus its subscription roles for a room scope."""
        if user is None:
            return False
        roles = set(user.roles)
        if rid is not None:
            sub = self.subs.get((rid, user.id))
            if sub:
                roles.update(sub.get("roles") or [])
        return not roles.isdisjoint(self.permissions.get(permission, ()))

    def grant(self, permission: str, role: str) -> None:
        with self.lock:
            roles = self.permissions.setdefault(permission, [])
            if role not in roles:
                roles.append(role)
            self.permissions_updated = dates.now()

    def revoke(self, permission: str, role: str) -> None:
        with self.lock:
            roles = self.permissions.get(permission, [])
            if role in roles:
                roles.remove(role)
            self.permissions_updated = dates.now()

    # ---- users and tokens ------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        password: str = "pass",
        *,
        name: str | None = None,
        email: str | None = None,
        roles: Iterable[str] = ("user",),
        utc_offset: float = 0,
        user_id: str | None = None,
    ) -> str:
        with self.lock:
            if self.find_user(username):
                raise ValueError(f"user {username!r} exists")
            user = User(
                id=user_id or random_id(),
                username=username,
                name=name or username,
                email=email or "",
                password=password,
                roles=list(roles) or ["user"],
                utc_offset=utc_offset,
            )
            self.users[user.id] = user
            return user.id

    def find_user(self, key: str | None) -> User | None:
        """By id, username or e-mail (case-insensitive for the last two, like RC)."""
        if not key or not isinstance(key, str):
            return None
        with self.lock:
            if key in self.users:
                return self.users[key]
            low = key.lower().lstrip("@")
            for u in self.users.values():
                if u.username.lower() == low or (u.email and u.email.lower() == low):
                    return u
        return None

    def new_token(self, user: User, kind: str = "resume", name: str = "") -> str:
        token = secrets.token_urlsafe(32)
        with self.lock:
            user.tokens[token] = {"when": dates.now(), "type": kind, "name": name}
        return token

    def user_by_token(self, user_id: str | None, token: str | None) -> User | None:
        if not isinstance(user_id, str) or not isinstance(token, str) or not user_id or not token:
            return None
        with self.lock:
            user = self.users.get(user_id)
            if user and token in user.tokens and user.active:
                return user
        return None

    def user_by_resume(self, token: str) -> User | None:
        with self.lock:
            for u in self.users.values():
                if token in u.tokens and u.active:
                    return u
        return None

    def check_password(self, user: User | None, password: Any) -> bool:
        if user is None or not user.active:
            return False
        if isinstance(password, dict):
            digest = password.get("digest")
            return (
                isinstance(digest, str)
                and digest.lower() == hashlib.sha256(user.password.encode()).hexdigest()
            )
        return isinstance(password, str) and secrets.compare_digest(password, user.password)

    def set_status(self, user: User, status: str, *, default: bool = True, text: str | None = None):
        """Presence change; `default` also changes what a new connection starts as."""
        if status not in STATUS_CODES:
            raise MeteorError(
                "error-invalid-status",
                "Valid status types include online, away, offline, and busy.",
            )
        with self.lock:
            if default:
                user.status_default = status
            if text is not None:
                user.status_text = text
            old = user.status
            user.status = status
        if old != status or text is not None:
            self.emit(("user-status", user))

    def connection_opened(self, user: User) -> None:
        with self.lock:
            user.connections += 1
            first = user.connections == 1
        if first:
            self.set_status(user, user.status_default, default=False)

    def connection_closed(self, user: User) -> None:
        with self.lock:
            user.connections = max(0, user.connections - 1)
            last = user.connections == 0
        if last:
            self.set_status(user, "offline", default=False)

    # ---- rooms and subscriptions -----------------------------------------------------------

    def room(self, rid: Any) -> dict[str, Any] | None:
        return self.rooms.get(rid) if isinstance(rid, str) else None

    def room_by_name(self, name: str | None) -> dict[str, Any] | None:
        if not name or not isinstance(name, str):
            return None
        name = name.lstrip("#")
        with self.lock:
            for r in self.rooms.values():
                if r.get("name") == name and r["t"] != "d":
                    return r
        return None

    def sub(self, rid: str, uid: str) -> dict[str, Any] | None:
        return self.subs.get((rid, uid))

    def members(self, rid: str) -> list[User]:
        with self.lock:
            return [self.users[uid] for (r, uid) in self.subs if r == rid and uid in self.users]

    def can_access(self, user: User | None, room: dict[str, Any] | None) -> bool:
        """RC's canAccessRoom: public rooms for any user, others for members only."""
        if user is None or room is None:
            return False
        if room["t"] == "c":
            return True
        if room["t"] == "l" and self.livechat is not None:
            return self.livechat.can_access(user, room)
        return (room["_id"], user.id) in self.subs

    def create_room(
        self,
        t: str,
        name: str,
        owner: User | None,
        members: Iterable[str] = (),
        *,
        read_only: bool = False,
        rid: str | None = None,
        topic: str | None = None,
    ) -> dict[str, Any]:
        if t != "d" and not re.fullmatch(r"[0-9A-Za-z_.\-]+", name or ""):
            raise MeteorError(
                "error-invalid-room-name",
                f"{name} is not a valid room name",
                {"channel_name": name},
            )
        with self.lock:
            if t != "d" and self.room_by_name(name):
                raise MeteorError(
                    "error-duplicate-channel-name",
                    f"A channel with name '{name}' exists",
                    {"channel_name": name},
                )
            ts = dates.now()
            room: dict[str, Any] = {
                "_id": rid or random_id(),
                "t": t,
                "name": name,
                "fname": name,
                "ts": ts,
                "_updatedAt": ts,
                "msgs": 0,
                "usersCount": 0,
                "ro": read_only,
                "sysMes": True,
                "default": False,
            }
            if owner is not None:
                room["u"] = {"_id": owner.id, "username": owner.username}
            if topic:
                room["topic"] = topic
            self.rooms[room["_id"]] = room
            self.messages[room["_id"]] = []
            if owner is not None and t != "d":
                self._subscribe(room, owner, roles=["owner"])
            for username in members:
                u = self.find_user(username)
                if u is None:
                    raise MeteorError("error-invalid-user", "Invalid user", {"username": username})
                if (room["_id"], u.id) not in self.subs:
                    self._subscribe(room, u)
            return room

    def direct_room(self, actor: User, others: list[User]) -> dict[str, Any]:
        people = sorted({actor.id, *(u.id for u in others)})
        rid = "".join(people)
        with self.lock:
            room = self.rooms.get(rid)
            if room is None:
                users = [self.users[i] for i in people]
                room = self.create_room("d", "", None, rid=rid)
                room["usernames"] = sorted(u.username for u in users)
                room["uids"] = people
                del room["name"], room["fname"]
                for u in users:
                    self._subscribe(room, u)
            return room

    def _subscribe(self, room: dict[str, Any], user: User, roles: list[str] | None = None) -> dict:
        ts = dates.now()
        if room["t"] == "d":
            others = [n for n in room.get("usernames", []) if n != user.username]
            name = others[0] if others else user.username
            fname = (self.find_user(name) or user).name
        else:
            # Livechat rooms have no `name`, only the visitor's `fname`.
            name = room.get("name") or room.get("fname")
            fname = room.get("fname") or name
        sub = {
            "_id": random_id(),
            "rid": room["_id"],
            "u": {"_id": user.id, "username": user.username, "name": user.name},
            "t": room["t"],
            "name": name,
            "fname": fname,
            "ts": ts,
            "ls": ts,
            "lr": ts,
            "open": True,
            "alert": False,
            "unread": 0,
            "userMentions": 0,
            "groupMentions": 0,
            "f": False,
            "roles": roles or [],
            "_updatedAt": ts,
        }
        self.subs[(room["_id"], user.id)] = sub
        room["usersCount"] = sum(1 for r, _ in self.subs if r == room["_id"])
        self.emit(("subscriptions-changed", user.id, "inserted", sub))
        self.emit(("rooms-changed", user.id, "inserted", room))
        return sub

    def add_member(self, room: dict[str, Any], user: User, actor: User | None, t: str) -> None:
        """Join (`uj`, actor None) or invite (`au`, actor set); a no-op for members."""
        with self.lock:
            if (room["_id"], user.id) in self.subs:
                return
            self._subscribe(room, user)
            if t == "uj":
                self.system_message(room, user, "uj", user.username)
            else:
                self.system_message(room, actor or user, "au", user.username)

    def remove_member(self, room: dict[str, Any], user: User, actor: User | None, t: str) -> None:
        """Leave (`ul`) or kick (`ru`)."""
        if room["t"] == "l" and t == "ul" and actor is None:
            # RC's beforeLeaveRoom callback for omnichannel rooms.
            text = "You can't leave a omnichannel room. Please, use the close button."
            raise MeteorError(text, text)
        with self.lock:
            sub = self.subs.get((room["_id"], user.id))
            if sub is None:
                raise MeteorError("error-user-not-in-room", "User is not in this room")
            self.system_message(room, actor or user, t, user.username)
            self.drop_subscription(room, user.id)

    def drop_subscription(self, room: dict[str, Any], uid: str) -> None:
        """Delete one subscription (tombstoned for `subscriptions.get`) and tell its user."""
        with self.lock:
            sub = self.subs.pop((room["_id"], uid), None)
            if sub is None:
                return
            self.removed_subs.append({**sub, "_deletedAt": dates.now()})
            room["usersCount"] = sum(1 for r, _ in self.subs if r == room["_id"])
            self.emit(
                (
                    "subscriptions-changed",
                    uid,
                    "removed",
                    {"_id": sub["_id"], "u": sub["u"], "rid": room["_id"], "t": room["t"]},
                )
            )
            self.emit(("rooms-changed", uid, "removed", room))

    def update_room(self, room: dict[str, Any], **fields: Any) -> None:
        with self.lock:
            room.update(fields)
            room["_updatedAt"] = dates.now()
            for u in self.members(room["_id"]):
                self.emit(("rooms-changed", u.id, "updated", room))

    def is_owner(self, user: User, room: dict[str, Any]) -> bool:
        sub = self.subs.get((room["_id"], user.id))
        return bool(sub and "owner" in sub.get("roles", []))

    def token_expires(self, token_info: dict[str, Any]) -> datetime:
        return token_info["when"] + timedelta(days=90)
