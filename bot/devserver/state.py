"""In-memory Rocket.Chat state: users, rooms, subscriptions, messages, files, tokens.

Documents are kept as plain dicts shaped like Rocket.Chat's Mongo documents, with `datetime`
values for dates; `wire()` turns them into REST (ISO strings) or DDP (`{$date}`) form at the edge.
Every mutation happens under one lock and reports what changed through `emit`, which the DDP hub
turns into stream frames; the REST and DDP layers never build events themselves.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.rocketchat.wire import to_iso, to_wire_date

_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
STATUS_CODES = {"offline": 0, "online": 1, "away": 2, "busy": 3}
# Roles that carry `message-impersonate` (alias/avatar) and `send-many-messages` in RC defaults.
IMPERSONATE_ROLES = {"bot", "app", "admin"}
BYPASS_ROLES = {"admin", "bot", "app"}
MAX_MESSAGE_SIZE = 5000  # RC setting Message_MaxAllowedSize


def random_id(length: int = 17) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> datetime:
    # Millisecond precision, like Mongo dates, so a value survives the ISO/$date round trip.
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def wire(obj: Any, mode: str) -> Any:
    """Deep copy with dates as ISO strings (`mode="rest"`) or `{$date}` (`mode="ddp"`)."""
    if isinstance(obj, datetime):
        return to_iso(obj) if mode == "rest" else to_wire_date(obj)
    if isinstance(obj, dict):
        return {k: wire(v, mode) for k, v in obj.items() if not k.startswith("__")}
    if isinstance(obj, list | tuple):
        return [wire(v, mode) for v in obj]
    return obj


class MeteorError(Exception):
    """A Meteor.Error: REST turns it into a 400 `[code]` body, DDP into an error object."""

    def __init__(self, error: str | int, reason: str, details: dict | None = None):
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.details = details

    def ddp(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "isClientSafe": True,
            "error": self.error,
            "reason": self.reason,
            "message": f"{self.reason} [{self.error}]",
            "errorType": "Meteor.Error",
        }
        if self.details is not None:
            body["details"] = self.details
        return body


@dataclass
class User:
    id: str
    username: str
    name: str
    email: str
    password: str
    roles: list[str]
    utc_offset: float = 0
    status: str = "offline"
    status_default: str = "online"
    status_text: str = ""
    active: bool = True
    created_at: datetime = field(default_factory=now)
    # token -> {"when", "type": "resume"|"personalAccessToken", "name"}
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: int = 0
    # Omnichannel service status (`statusLivechat`), apart from presence: "available" or
    # "not-available"; only meaningful with the livechat-agent role.
    status_livechat: str = "not-available"

    @property
    def ref(self) -> dict[str, str]:
        return {"_id": self.id, "username": self.username, "name": self.name}

    def has_any(self, roles: Iterable[str]) -> bool:
        return bool(set(self.roles) & set(roles))

    def doc(self, *, me: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "_id": self.id,
            "username": self.username,
            "name": self.name,
            "type": "bot" if "bot" in self.roles else "user",
            "status": self.status,
            "statusText": self.status_text,
            "active": self.active,
            "roles": list(self.roles),
            "utcOffset": self.utc_offset,
            "emails": [{"address": self.email, "verified": True}] if self.email else [],
            "createdAt": self.created_at,
            "_updatedAt": self.created_at,
        }
        if "livechat-agent" in self.roles:
            d["statusLivechat"] = self.status_livechat
        if me:
            d["statusConnection"] = "online" if self.connections else "offline"
            d["statusDefault"] = self.status_default
            d["settings"] = {"preferences": {}}
            d["avatarUrl"] = f"/avatar/{self.username}"
            if self.email:
                d["email"] = self.email
        return d


Emit = Callable[[tuple], None]


class State:
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
        self.permissions_updated = now()
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
            self.permissions_updated = now()

    def revoke(self, permission: str, role: str) -> None:
        with self.lock:
            roles = self.permissions.get(permission, [])
            if role in roles:
                roles.remove(role)
            self.permissions_updated = now()

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
            user.tokens[token] = {"when": now(), "type": kind, "name": name}
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
            ts = now()
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
        ts = now()
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
            self.removed_subs.append({**sub, "_deletedAt": now()})
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
            room["_updatedAt"] = now()
            for u in self.members(room["_id"]):
                self.emit(("rooms-changed", u.id, "updated", room))

    def is_owner(self, user: User, room: dict[str, Any]) -> bool:
        sub = self.subs.get((room["_id"], user.id))
        return bool(sub and "owner" in sub.get("roles", []))

    # ---- messages --------------------------------------------------------------------------

    def find_message(self, mid: str, *, indexed_only: bool = False) -> dict[str, Any] | None:
        with self.lock:
            found = self._by_id.get(mid)
            if found is not None or indexed_only:
                return found
            for msgs in self.messages.values():
                for m in msgs:
                    if m["_id"] == mid:
                        return m
        return None

    def system_message(
        self, room: dict[str, Any], actor: User, t: str, msg: str, **extra: Any
    ) -> dict:
        return self._store_message(room, actor, {"t": t, "msg": msg, "groupable": False, **extra})

    def post_message(self, user: User, room: dict[str, Any], fields: dict[str, Any]) -> dict:
        """The checks of RC's sendMessage / canSendMessage, then insert and notify."""
        with self.lock:
            if not self.can_access(user, room):
                raise MeteorError("error-not-allowed", "Not allowed")
            if room.get("archived"):
                raise MeteorError("error-room-archived", "Room is archived")
            if room.get("ro") and not (self.is_owner(user, room) or "admin" in user.roles):
                raise MeteorError(
                    "error-not-allowed", "You can't send messages because the room is readonly."
                )
            if len(str(fields.get("msg") or "")) > MAX_MESSAGE_SIZE:
                raise MeteorError(
                    "error-message-size-exceeded", "Message size exceeds Message_MaxAllowedSize"
                )
            mid = fields.get("_id")
            if mid is not None and self.find_message(mid, indexed_only=True):
                raise MeteorError(
                    11000,
                    "E11000 duplicate key error collection: rocketchat_message "
                    f'index: _id_ dup key: {{ _id: "{mid}" }}',
                )
            fields = dict(fields)
            if not user.has_any(IMPERSONATE_ROLES):
                for key in ("alias", "avatar"):
                    fields.pop(key, None)
            if "tmid" in fields and not self._thread_root(room, fields["tmid"]):
                raise MeteorError("error-invalid-message", "Invalid thread message id")
            return self._store_message(room, user, fields)

    def _thread_root(self, room: dict[str, Any], tmid: str) -> dict | None:
        for m in self.messages.get(room["_id"], []):
            if m["_id"] == tmid:
                return m
        return None

    def _store_message(self, room: dict[str, Any], user: User, fields: dict[str, Any]) -> dict:
        ts = now()
        msg: dict[str, Any] = {
            "_id": fields.get("_id") or random_id(),
            "rid": room["_id"],
            "msg": fields.get("msg") or "",
            "ts": ts,
            "u": user.ref,
            "_updatedAt": ts,
            "urls": [],
            "mentions": [],
            "channels": [],
        }
        for key, value in fields.items():
            if key not in ("_id", "rid", "ts", "u", "_updatedAt") and value is not None:
                msg[key] = copy.deepcopy(value)
        if "t" not in msg:
            msg["mentions"] = self._mentions(msg["msg"])
            msg["channels"] = [
                {"_id": r["_id"], "name": r["name"]}
                for n in re.findall(r"(?:^|\s)#([\w.\-]+)", msg["msg"])
                if (r := self.room_by_name(n))
            ]
            msg["md"] = [
                {"type": "PARAGRAPH", "value": [{"type": "PLAIN_TEXT", "value": msg["msg"]}]}
            ]
        if msg.get("attachments") and "t" not in msg:
            for att in msg["attachments"]:
                if isinstance(att, dict):
                    att.setdefault("ts", ts)
        self.messages.setdefault(room["_id"], []).append(msg)
        self._by_id[msg["_id"]] = msg
        room["msgs"] = room.get("msgs", 0) + 1
        room["lm"] = ts
        room["_updatedAt"] = ts
        if "t" not in msg:
            room["lastMessage"] = msg
        root = self._thread_root(room, msg["tmid"]) if msg.get("tmid") else None
        self.emit(("message", room, msg))
        if root is not None:
            root["tcount"] = root.get("tcount", 0) + 1
            root["tlm"] = ts
            root["replies"] = sorted({*root.get("replies", []), user.id})
            root["_updatedAt"] = ts
            self.emit(("message", room, root))
        self._after_message(room, msg, user)
        return msg

    def _mentions(self, text: str) -> list[dict[str, Any]]:
        out = []
        for name in dict.fromkeys(re.findall(r"(?:^|[\s(])@([\w.\-]+)", text)):
            if name in ("all", "here"):
                out.append({"_id": name, "username": name, "type": "user"})
            elif (u := self.find_user(name)) is not None and u.username == name:
                out.append({"_id": u.id, "username": u.username, "name": u.name, "type": "user"})
        return out

    def _after_message(self, room: dict[str, Any], msg: dict[str, Any], author: User) -> None:
        mentioned = {m["_id"] for m in msg.get("mentions", [])}
        for (rid, uid), sub in list(self.subs.items()):
            if rid != room["_id"]:
                continue
            if uid != author.id and "t" not in msg:
                sub["unread"] += 1
                sub["alert"] = True
                sub["open"] = True
                if uid in mentioned:
                    sub["userMentions"] += 1
                sub["_updatedAt"] = msg["ts"]
                self.emit(("subscriptions-changed", uid, "updated", sub))
                if room["t"] == "d" or uid in mentioned:
                    self.emit(("notification", uid, self._notification(room, msg, author)))
            self.emit(("rooms-changed", uid, "updated", room))

    def _notification(self, room: dict, msg: dict, author: User) -> dict[str, Any]:
        return {
            "title": f"@{author.username}" if room["t"] == "d" else f"#{room.get('name')}",
            "text": msg["msg"],
            "payload": {
                "_id": msg["_id"],
                "rid": room["_id"],
                **({"tmid": msg["tmid"]} if msg.get("tmid") else {}),
                "sender": {"_id": author.id, "username": author.username, "name": author.name},
                "type": room["t"],
                "name": room.get("name"),
                "message": {"msg": msg["msg"], **({"t": msg["t"]} if msg.get("t") else {})},
            },
        }

    def update_message(self, user: User, msg: dict[str, Any], text: str, **extra: Any) -> dict:
        with self.lock:
            room = self.rooms[msg["rid"]]
            if msg["u"]["_id"] != user.id and "admin" not in user.roles:
                raise MeteorError(
                    "error-action-not-allowed",
                    "Message editing not allowed",
                    {"method": "updateMessage", "action": "Message_editing"},
                )
            if room.get("archived"):
                raise MeteorError("error-room-archived", "Room is archived")
            ts = now()
            msg["msg"] = text
            msg["md"] = [{"type": "PARAGRAPH", "value": [{"type": "PLAIN_TEXT", "value": text}]}]
            msg["mentions"] = self._mentions(text)
            msg.update({k: v for k, v in extra.items() if v is not None})
            msg["editedAt"] = ts
            msg["editedBy"] = {"_id": user.id, "username": user.username}
            msg["_updatedAt"] = ts
            self.emit(("message", room, msg))
            return msg

    def delete_message(self, user: User, msg: dict[str, Any]) -> dict:
        with self.lock:
            room = self.rooms[msg["rid"]]
            if (
                msg["u"]["_id"] != user.id
                and "admin" not in user.roles
                and not self.is_owner(user, room)
                # RC's canDeleteMessage: Message_AllowDeleting (on) + `delete-message`
                and not self.has_permission(user, "delete-message")
            ):
                raise MeteorError(
                    "error-action-not-allowed",
                    "Not allowed",
                    {"method": "deleteMessage", "action": "Delete_message"},
                )
            self.messages[room["_id"]].remove(msg)
            self._by_id.pop(msg["_id"], None)
            ts = now()
            # RC keeps a trace by default (Message_KeepHistory off → `rm` with empty text).
            gone = {
                "_id": msg["_id"],
                "rid": room["_id"],
                "t": "rm",
                "msg": "",
                "ts": msg["ts"],
                "u": msg["u"],
                "_updatedAt": ts,
                "groupable": False,
            }
            self.emit(("message", room, gone))
            self.emit(("deleteMessage", room, {"_id": msg["_id"]}))
            return gone

    def react(self, user: User, msg: dict[str, Any], emoji: str, should_react: bool | None) -> None:
        with self.lock:
            room = self.rooms[msg["rid"]]
            if not self.can_access(user, room):
                raise MeteorError("error-not-allowed", "Not allowed")
            emoji = emoji if emoji.startswith(":") else f":{emoji}:"
            reactions = msg.setdefault("reactions", {})
            entry = reactions.setdefault(emoji, {"usernames": []})
            has = user.username in entry["usernames"]
            want = (not has) if should_react is None else should_react
            if want and not has:
                entry["usernames"].append(user.username)
            elif not want and has:
                entry["usernames"].remove(user.username)
            if not entry["usernames"]:
                del reactions[emoji]
            if not reactions:
                del msg["reactions"]
            msg["_updatedAt"] = now()
            self.emit(("message", room, msg))

    def history(
        self,
        rid: str,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        inclusive: bool = False,
        show_threads: bool = True,
    ) -> list[dict[str, Any]]:
        """Newest first, like RC's loadHistory."""
        with self.lock:
            out = []
            for m in self.messages.get(rid, []):
                ts = m["ts"]
                if oldest and (ts < oldest or (ts == oldest and not inclusive)):
                    continue
                if latest and (ts > latest or (ts == latest and not inclusive)):
                    continue
                if not show_threads and m.get("tmid") and not m.get("tshow"):
                    continue
                out.append(m)
            return out[::-1]

    def mark_read(self, user: User, room: dict[str, Any]) -> None:
        with self.lock:
            sub = self.subs.get((room["_id"], user.id))
            if sub:
                sub.update(
                    unread=0,
                    alert=False,
                    userMentions=0,
                    groupMentions=0,
                    ls=now(),
                    _updatedAt=now(),
                )
                self.emit(("subscriptions-changed", user.id, "updated", sub))

    def ephemeral(self, user: User, rid: str, text: str) -> None:
        ts = now()
        self.emit(
            (
                "ephemeral",
                user.id,
                {
                    "_id": random_id(),
                    "rid": rid,
                    "ts": ts,
                    "_updatedAt": ts,
                    "msg": text,
                    "u": {"_id": "rocket.cat", "username": "rocket.cat"},
                    "private": True,
                    "groupable": False,
                },
            )
        )

    def token_expires(self, token_info: dict[str, Any]) -> datetime:
        return token_info["when"] + timedelta(days=90)
