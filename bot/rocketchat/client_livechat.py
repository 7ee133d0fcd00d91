"""The chat port's livechat calls: the bot as the rooms' bot agent."""

from __future__ import annotations

from collections.abc import Sequence

from bot.chat.errors import (
    CallTimeout,
    ConnectionLost,
    NotAllowed,
    NotFound,
)
from bot.chat.types import (
    Room,
    Visitor,
)
from bot.rocketchat.client_connection import Connection, log


class LivechatCalls(Connection):
    """Livechat rooms, agents, visitors and departments."""

    # --- livechat ---------------------------------------------------------------------------
    def livechat_set_available(self) -> str:
        """The bot as an `available` omnichannel agent (`livechat/agent.status`)."""
        return self.rest.livechat_agent_status("available")

    def livechat_open_rooms(self) -> list[Room]:
        """Open livechat rooms the bot serves (`livechat/rooms?agents[]=<bot>&open=true`)."""
        rooms = self.rest.livechat_rooms(self.bot_user.id)
        with self._lock:
            for room in rooms:
                self._rooms[room.id] = room
        return rooms

    def livechat_room(self, rid: str) -> Room | None:
        """The room as the server has it now (`servedBy`, `open` change under us: no cache)."""
        room = self.rest.room_info(rid)
        with self._lock:
            if room is not None:
                self._rooms[rid] = room
        return room

    def livechat_add_agent(self, rid: str, username: str) -> None:
        """Bring a human into a livechat room; `servedBy` stays the bot.

        `addUsersToRoom` (DDP, else `method.call`); where the server no longer has that
        method (deprecated for 9.0), the `/invite` slash command, whose errors are only
        ephemeral, so the membership is checked afterwards."""
        ddp = self._ddp
        params = {"rid": rid, "users": [username]}
        try:
            if ddp is not None and self.connected:
                try:
                    ddp.call("addUsersToRoom", params, timeout=self.call_timeout)
                    return
                except (ConnectionLost, CallTimeout) as exc:
                    # adding a member twice changes nothing: the same call again over REST
                    log.info("addUsersToRoom over DDP failed (%s), using REST", exc.reason)
            self.rest.method_call("addUsersToRoom", params)
            return
        except NotFound as exc:
            if exc.key in {"error-invalid-room", "error-room-not-found", "error-invalid-user"}:
                raise
            log.info("addUsersToRoom unavailable (%s); using /invite", exc.reason)
        self.rest.run_command("invite", f"@{username}", rid)
        if not any(u.username == username for u in self._livechat_members(rid)):
            raise NotAllowed(
                f"/invite @{username} did not add them to the room",
                error="error-not-allowed",
            )

    def livechat_forward(self, rid: str, user_id: str, comment: str | None = None) -> None:
        self.rest.livechat_forward(rid, user_id, comment)
        with self._lock:
            self._rooms.pop(rid, None)

    def livechat_join(self, rid: str) -> None:
        self.rest.livechat_join(rid)

    def livechat_close(self, rid: str, comment: str, tags: Sequence[str] = ()) -> None:
        self.rest.livechat_close(rid, comment, tags)
        with self._lock:
            self._rooms.pop(rid, None)

    def visitor(self, visitor_id: str) -> Visitor | None:
        return self.rest.visitor_info(visitor_id)

    def livechat_department_name(self, department_id: str) -> str | None:
        return self.rest.livechat_department_name(department_id)
