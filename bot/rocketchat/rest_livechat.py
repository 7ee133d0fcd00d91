"""REST calls of the livechat side (the bot as the rooms' bot agent; research:
livechat-intake.md), and DDP methods over REST."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from bot.chat.errors import (
    NotAllowed,
    NotFound,
    ServerError,
)
from bot.chat.types import (
    Message,
    Room,
    Visitor,
)
from bot.rocketchat.rest_session import (
    RestSession,
    log,
    parse_all,
    parse_one,
)
from bot.rocketchat.wire import (
    message_from_wire,
    room_from_wire,
    visitor_from_wire,
)


class LivechatCalls(RestSession):
    """Agent status, livechat rooms, forward/join/close, messages, departments, visitors."""

    # --- livechat (the bot as the rooms' bot agent; research: livechat-intake.md) ----------
    def livechat_agent_status(self, status: str = "available") -> str:
        """`POST livechat/agent.status` (`view-l-room`); the status the server now holds."""
        answer = self.post("livechat/agent.status", status=status)
        value = answer.get("status")
        return value if isinstance(value, str) else status

    def livechat_rooms(
        self, agent_id: str, *, open_only: bool = True, page: int = 50
    ) -> list[Room]:
        """Every livechat room served by `agent_id` (`GET livechat/rooms?agents[]=`, all
        pages); `view-l-room` is enough when the agent asked about is the caller."""
        rooms: dict[str, Room] = {}
        offset = 0
        while True:
            params: dict[str, Any] = {"agents[]": agent_id, "offset": offset, "count": page}
            if open_only:
                params["open"] = True
            answer = self.get("livechat/rooms", **params)
            items = answer.get("rooms") if isinstance(answer.get("rooms"), list) else []
            for room in parse_all(room_from_wire, items):
                rooms.setdefault(room.id, room)
            total = answer.get("total")
            offset += len(items)
            if not items or not isinstance(total, int) or offset >= total:
                return list(rooms.values())

    def livechat_forward(self, rid: str, user_id: str, comment: str | None = None) -> None:
        """`POST livechat/room.forward`: the target becomes `servedBy`; every other member
        (the bot included) loses their subscription."""
        body: dict[str, Any] = {"roomId": rid, "userId": user_id}
        if comment:
            body["comment"] = comment
        self.post("livechat/room.forward", **body)

    def livechat_join(self, rid: str) -> None:
        """`GET livechat/room.join`: the bot subscribes again after a forward took it out."""
        self.get("livechat/room.join", roomId=rid)

    def livechat_close(self, rid: str, comment: str, tags: Sequence[str] = ()) -> None:
        """`POST livechat/room.closeByUser`; the visitor is not e-mailed Rocket.Chat's own
        transcript (Omnicat delivers its own)."""
        body: dict[str, Any] = {
            "rid": rid,
            "comment": comment,
            "transcriptEmail": {"sendToVisitor": False},
        }
        if tags:
            body["tags"] = list(tags)
        self.post("livechat/room.closeByUser", **body)

    def livechat_messages(self, rid: str, *, page: int = 100) -> list[Message]:
        """`GET livechat/:rid/messages`, all pages, oldest first (user messages and
        `livechat-close` only: the server leaves out the other system messages)."""
        found: dict[str, Message] = {}
        offset = 0
        while True:
            answer = self.get(
                f"livechat/{quote(rid, safe='')}/messages",
                offset=offset,
                count=page,
                sort='{"ts":1}',
            )
            items = answer.get("messages") if isinstance(answer.get("messages"), list) else []
            for message in parse_all(message_from_wire, items):
                found.setdefault(message.id, message)
            total = answer.get("total")
            offset += len(items)
            if not items or not isinstance(total, int) or offset >= total:
                return sorted(found.values(), key=lambda m: m.ts)

    def livechat_department_name(self, department_id: str) -> str | None:
        """`GET livechat/department/:id` → the department's name (None when unknown)."""
        try:
            answer = self.get(f"livechat/department/{quote(department_id, safe='')}")
        except (NotFound, ServerError, NotAllowed) as exc:
            log.debug("rest: livechat/department failed: %s", exc.reason)
            return None
        department = answer.get("department")
        name = department.get("name") if isinstance(department, dict) else None
        return name if isinstance(name, str) else None

    def visitor_info(self, visitor_id: str) -> Visitor | None:
        try:
            answer = self.get("livechat/visitors.info", visitorId=visitor_id)
        except (NotFound, ServerError, NotAllowed) as exc:
            log.debug("rest: livechat/visitors.info failed: %s", exc.reason)
            return None
        return parse_one(visitor_from_wire, answer.get("visitor"), "livechat/visitors.info")

    def method_call(self, method: str, *params: Any, call_id: str = "1") -> Any:
        """`POST method.call/<method>`: a DDP method over REST; the method's result, or its
        Meteor error raised typed (as over DDP)."""
        from bot.rocketchat.meteor_errors import map_meteor_error

        message = json.dumps({"msg": "method", "id": call_id, "method": method, "params": params})
        answer = self.post(f"method.call/{method}", message=message)
        raw = answer.get("message")
        try:
            inner = json.loads(raw) if isinstance(raw, str) else {}
        except ValueError:
            raise ServerError(f"method.call/{method}: unusable answer") from None
        if isinstance(inner, dict) and inner.get("error") is not None:
            raise map_meteor_error(inner["error"])
        return inner.get("result") if isinstance(inner, dict) else None

    def run_command(self, command: str, params: str, rid: str) -> None:
        """`POST commands.run`: a slash command as the bot (errors come back as ephemeral
        messages, not here: callers verify the effect)."""
        self.post("commands.run", command=command, params=params, roomId=rid)
