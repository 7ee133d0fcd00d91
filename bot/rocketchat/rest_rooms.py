"""REST calls about users and rooms."""

from __future__ import annotations

from collections.abc import Sequence

from bot.chat.errors import (
    NotFound,
    ServerError,
)
from bot.chat.types import (
    FileInfo,
    Room,
    Subscription,
    User,
)
from bot.rocketchat.rest_session import (
    ROOM_API,
    RestSession,
    log,
    parse_all,
    parse_one,
    q,
)
from bot.rocketchat.wire import (
    file_info_from_wire,
    room_from_wire,
    subscription_from_wire,
    user_from_wire,
)


class UserAndRoomCalls(RestSession):
    """Users (me, info, presence) and rooms (DMs, groups, membership, files, subscriptions)."""

    # --- users ----------------------------------------------------------------------------
    def me(self) -> User:
        return parse_one(user_from_wire, self._request(self.api.me, "me"), "me")

    def user_info(self, *, username: str | None = None, user_id: str | None = None) -> User | None:
        params = {"username": username} if username else {"userId": user_id}
        try:
            answer = self.get("users.info", **params)
        except NotFound:
            return None
        except ServerError as exc:
            # 8.x answers an unknown user with 400 `error-invalid-user` or a plain failure.
            log.debug("rest: users.info failed: %s", exc.reason)
            return None
        return parse_one(user_from_wire, answer.get("user"), "users.info")

    def presence(self, user_id: str) -> str:
        answer = self.get("users.getPresence", userId=user_id)
        status = answer.get("presence")
        return status if isinstance(status, str) else "offline"

    # --- rooms ----------------------------------------------------------------------------
    def dm_create(self, username: str) -> Room:
        answer = self._request(lambda: self.api.dm_create(username), "dm.create")
        return parse_one(room_from_wire, self._dict(answer).get("room"), "dm.create")

    def room_info(self, rid: str) -> Room | None:
        try:
            answer = self.get("rooms.info", roomId=rid)
        except NotFound:
            return None
        return parse_one(room_from_wire, answer.get("room"), "rooms.info")

    def create_group(self, name: str, members: Sequence[str] = ()) -> Room:
        answer = self._request(
            lambda: self.api.groups_create(name, members=list(members)), "groups.create"
        )
        return parse_one(room_from_wire, self._dict(answer).get("group"), "groups.create")

    def invite(self, rid: str, user_id: str, room_type: str = "p") -> None:
        api = ROOM_API.get(room_type, "groups")
        self.post(f"{api}.invite", roomId=rid, userId=user_id)

    def kick(self, rid: str, user_id: str, room_type: str = "p") -> None:
        api = ROOM_API.get(room_type, "groups")
        self.post(f"{api}.kick", roomId=rid, userId=user_id)

    def archive(self, rid: str, room_type: str = "p") -> None:
        api = ROOM_API.get(room_type, "groups")
        self.post(f"{api}.archive", roomId=rid)

    def unarchive(self, rid: str, room_type: str = "p") -> None:
        api = ROOM_API.get(room_type, "groups")
        self.post(f"{api}.unarchive", roomId=rid)

    def set_topic(self, rid: str, topic: str, room_type: str = "p") -> None:
        api = ROOM_API.get(room_type, "groups")
        self.post(f"{api}.setTopic", roomId=rid, topic=topic)

    def members(self, rid: str, room_type: str = "p") -> list[User]:
        fn = {"c": self.api.channels_members, "d": self.api.dm_members}.get(
            room_type, self.api.groups_members
        )
        items = self._paged("members", fn, room_id=q(rid))
        return parse_all(user_from_wire, items)

    def files(self, rid: str, room_type: str = "p") -> list[FileInfo]:
        fn = {"c": self.api.channels_files, "d": self.api.dm_files}.get(
            room_type, self.api.groups_files
        )
        items = self._paged("files", fn, room_id=q(rid))
        return parse_all(file_info_from_wire, items)

    def subscriptions(self) -> list[Subscription]:
        answer = self.get("subscriptions.get")
        return parse_all(subscription_from_wire, answer.get("update") or [])
