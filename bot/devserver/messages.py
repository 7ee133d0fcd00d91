"""Messages of the in-memory state: post, edit, delete, react, history, read marks.

A mixin of `State` (see state.py): it uses the state's lock, rooms, subscriptions and `emit`.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import dates
from .model import IMPERSONATE_ROLES, MAX_MESSAGE_SIZE, MeteorError, User, random_id

if TYPE_CHECKING:
    from .state import State

    _Base = State
else:
    _Base = object


class MessageOps(_Base):
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
            limit = self.settings.get("Message_MaxAllowedSize", MAX_MESSAGE_SIZE)
            if len(str(fields.get("msg") or "")) > limit:
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
        ts = dates.now()
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
            ts = dates.now()
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
            ts = dates.now()
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
            msg["_updatedAt"] = dates.now()
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
                    ls=dates.now(),
                    _updatedAt=dates.now(),
                )
                self.emit(("subscriptions-changed", user.id, "updated", sub))

    def ephemeral(self, user: User, rid: str, text: str) -> None:
        ts = dates.now()
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
