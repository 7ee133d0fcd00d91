"""The chat port's calls on rooms, files and users (with a short-lived user cache)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.chat.errors import (
    ConnectionLost,
    NotFound,
)
from bot.chat.types import (
    FileInfo,
    Message,
    Room,
    Subscription,
    User,
)
from bot.rocketchat.client_connection import USER_TTL, Connection
from bot.rocketchat.wire import (
    WireFormatError,
    user_from_wire,
)


class RoomCalls(Connection):
    """Rooms, files and users."""

    # --- rooms ----------------------------------------------------------------------------
    def room_info(self, rid: str) -> Room | None:
        with self._lock:
            room = self._rooms.get(rid)
        if room is None:
            room = self.rest.room_info(rid)
            if room is not None:
                with self._lock:
                    self._rooms[rid] = room
        return room

    def _room_type(self, rid: str) -> str:
        room = self.room_info(rid)
        if room is None:
            raise NotFound(f"room {rid} not found")
        return room.type

    def create_group(self, name: str, members: Sequence[str] = (), *, topic: str = "") -> Room:
        room = self.rest.create_group(name, members)
        with self._lock:
            self._rooms[room.id] = room
        if topic:
            self.rest.set_topic(room.id, topic, room.type)
            self._forget_room(room.id)
        return room

    # A change the bot makes itself drops its cached copy at once: the stream's rooms-changed
    # does too, but may come after the bot's next read of the room.
    def invite(self, rid: str, user_id: str) -> None:
        self.rest.invite(rid, user_id, self._room_type(rid))
        self._forget_room(rid)

    def kick(self, rid: str, user_id: str) -> None:
        self.rest.kick(rid, user_id, self._room_type(rid))
        self._forget_room(rid)

    def archive(self, rid: str) -> None:
        self.rest.archive(rid, self._room_type(rid))
        self._forget_room(rid)

    def unarchive(self, rid: str) -> None:
        self.rest.unarchive(rid, self._room_type(rid))
        self._forget_room(rid)

    def set_topic(self, rid: str, topic: str) -> None:
        self.rest.set_topic(rid, topic, self._room_type(rid))
        self._forget_room(rid)

    def _forget_room(self, rid: str) -> None:
        with self._lock:
            self._rooms.pop(rid, None)

    def members(self, rid: str) -> list[User]:
        room_type = self._room_type(rid)
        if room_type == "l":
            return self._livechat_members(rid)
        return self.rest.members(rid, room_type)

    def _livechat_members(self, rid: str) -> list[User]:
        """Members of a livechat room: DDP `getUsersOfRoom` (no REST route lists `l` rooms)."""
        ddp = self._ddp
        if ddp is None or not self.connected:
            raise ConnectionLost("members of a livechat room need the realtime connection")
        answer = ddp.call("getUsersOfRoom", rid, True, timeout=self.call_timeout)
        records = answer.get("records") if isinstance(answer, dict) else answer
        users = []
        for item in records if isinstance(records, list) else []:
            try:
                users.append(user_from_wire(item))
            except WireFormatError:
                continue
        return users

    def files(self, rid: str) -> list[FileInfo]:
        room_type = self._room_type(rid)
        if room_type == "l":
            # no `*.files` route serves `l` rooms; the files are the history's uploads
            return [f for m in self.history(rid) if m.type is None for f in m.files]
        return self.rest.files(rid, room_type)

    def subscriptions(self) -> list[Subscription]:
        return self.rest.subscriptions()

    # --- files ----------------------------------------------------------------------------
    def upload(
        self,
        rid: str,
        data: bytes,
        filename: str,
        mime: str,
        *,
        message: str = "",
        tmid: str | None = None,
    ) -> Message:
        self._in_flight.settle(rid)  # after the room's message in flight
        return self.rest.upload(rid, data, filename, mime, message=message, tmid=tmid)

    def download(self, url: str) -> bytes:
        return self.rest.download(url)

    # --- users ----------------------------------------------------------------------------
    def user(self, *, username: str | None = None, user_id: str | None = None) -> User | None:
        if not username and not user_id:
            raise ValueError("user() needs username or user_id")
        key = ("username", username) if username else ("id", user_id or "")
        now = time.monotonic()
        with self._lock:
            cached = self._users.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = self.rest.user_info(username=username, user_id=user_id)
        with self._lock:
            self._users[key] = (now + USER_TTL, found)
            if found is not None:
                self._users[("username", found.username)] = (now + USER_TTL, found)
                self._users[("id", found.id)] = (now + USER_TTL, found)
        return found

    def presence(self, user_id: str) -> str:
        return self.rest.presence(user_id)
