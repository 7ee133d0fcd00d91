"""Livechat room transitions: close (with tags), forward to an agent or a department, the
transfer history message; a mixin of `Livechat` (livechat.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import dates
from .livechat_model import LivechatError, Visitor
from .state import User

if TYPE_CHECKING:
    from .livechat import Livechat

    _Base = Livechat
else:
    _Base = object


class Transitions(_Base):
    def _resolve_tags(
        self, room: dict[str, Any], tags: list[str] | None, client_action: bool
    ) -> list[str]:
        """closeRoom's resolveChatTags, including its required-tags refusal."""
        given = list(dict.fromkeys([*(room.get("tags") or []), *(tags or [])]))
        dep = self.departments.get(room.get("departmentId") or "")
        if dep is None:
            return given
        closing = dep.get("chatClosingTags") or []
        merged = list(dict.fromkeys([*given, *closing]))
        if dep.get("requestTagBeforeClosingChat"):
            check_room_tags = not client_action or bool(given)
            if not check_room_tags or not closing:
                raise LivechatError("error-tags-must-be-assigned-before-closing-chat")
        return merged

    def close(
        self,
        room: dict[str, Any],
        *,
        comment: str | None,
        user: User | None = None,
        visitor: Visitor | None = None,
        tags: list[str] | None = None,
        client_action: bool = False,
    ) -> None:
        """closeRoom: checks, then the room closes, every subscription goes, `livechat-close`."""
        st = self.state
        with st.lock:
            if not room.get("open"):
                raise LivechatError("error-room-closed")
            if (
                self.setting("Livechat_request_comment_when_closing_conversation")
                and not (comment or "").strip()
            ):
                raise LivechatError("error-comment-is-required")
            resolved = self._resolve_tags(room, tags, client_action)
            ts = dates.now()
            closer = user if user is not None else visitor
            assert closer is not None
            room.pop("open", None)
            room.update(
                closedAt=ts,
                closer="user" if user is not None else "visitor",
                closedBy={"_id": closer.id, "username": closer.username},
                metrics={"chatDuration": (ts - room["ts"]).total_seconds()},
                _updatedAt=ts,
            )
            room["v"]["status"] = "offline"
            if resolved:
                room["tags"] = resolved
            self.inquiries.pop(room["_id"], None)
            for rid, uid in list(st.subs):
                if rid == room["_id"]:
                    st.drop_subscription(room, uid)
            extra: dict[str, Any] = {"transcriptRequested": False}
            if visitor is not None:
                extra["token"] = visitor.token
            st.system_message(room, closer, "livechat-close", comment or "", **extra)  # type: ignore[arg-type]

    def forward_to_agent(
        self, room: dict[str, Any], target: User, by: User, comment: str | None
    ) -> None:
        """forwardRoomToAgent: the target takes the room, everyone else leaves (`ul`), and the
        transfer is recorded (`livechat_transfer_history`)."""
        st = self.state
        with st.lock:
            if not self.is_online_agent(target):
                raise LivechatError("error-user-is-offline")
            served = room.get("servedBy") or {}
            if served.get("_id") == target.id:
                raise LivechatError("error-selected-agent-room-agent-are-same")
            previous = st.users.get(served.get("_id", ""))
            self.assign(room, target)
            for rid, uid in list(st.subs):
                if rid == room["_id"] and uid != target.id and uid in st.users:
                    st.system_message(room, st.users[uid], "ul", st.users[uid].username)
                    st.drop_subscription(room, uid)
            self._transfer_history(room, by, "agent", comment, target=target, previous=previous)

    def forward_to_department(
        self, room: dict[str, Any], dep: dict[str, Any], by: User, comment: str | None
    ) -> None:
        """forwardRoomToDepartment: everyone leaves; the department's next agent (its bot first
        when the bot setting is on) takes the room, or it waits in the department's queue."""
        st = self.state
        with st.lock:
            dep_id = dep["_id"]
            agent = None
            if self.setting("Livechat_assign_new_conversation_to_bot"):
                agent = self.next_bot(dep_id)
            if agent is None:
                agent = self.next_agent(dep_id)
            if agent is None and not self.setting("Livechat_accept_chats_with_no_agents"):
                raise LivechatError("error-no-agents-online-in-department")
            for rid, uid in list(st.subs):
                if rid == room["_id"] and uid in st.users:
                    st.system_message(room, st.users[uid], "ul", st.users[uid].username)
                    st.drop_subscription(room, uid)
            room.pop("servedBy", None)
            room["departmentId"] = dep_id
            inquiry = self.inquiries.get(room["_id"])
            if inquiry is not None:
                inquiry.update(status="queued", department=dep_id)
            if agent is not None:
                self.assign(room, agent)
            self._transfer_history(room, by, "department", comment, department=dep)

    def _transfer_history(
        self,
        room: dict[str, Any],
        by: User,
        scope: str,
        comment: str | None,
        *,
        target: User | None = None,
        previous: User | None = None,
        department: dict[str, Any] | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "transferredBy": {
                "_id": by.id,
                "username": by.username,
                "name": by.name,
                "type": "agent" if self.is_agent(by) else "user",
            },
            "ts": dates.now(),
            "scope": scope,
        }
        if comment:
            data["comment"] = comment
        if target is not None:
            data["transferredTo"] = {
                "_id": target.id,
                "username": target.username,
                "name": target.name,
            }
        if previous is not None:
            data["previousHead"] = {"_id": previous.id, "username": previous.username}
        if department is not None:
            data["nextDepartment"] = {"_id": department["_id"], "name": department["name"]}
        self.state.system_message(room, by, "livechat_transfer_history", "", transferData=data)

    def rooms(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [r for r in self.state.rooms.values() if r["t"] == "l"]
