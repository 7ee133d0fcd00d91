"""Omnichannel (livechat) state and rules: visitors, departments, `t:'l'` rooms, routing.

Follows Rocket.Chat CE (research `livechat-intake.md`; RC `apps/meteor/app/livechat/server/lib/
{QueueManager,RoutingManager,Helper,closeRoom}.ts`): a new room is routed to the bot agent when
`Livechat_assign_new_conversation_to_bot` is on (a user with roles `bot` + `livechat-agent`, member
of the room's department if it has one), otherwise by `Livechat_Routing_Method`. Assignment creates
the agent's subscription and posts `command`/`connected` + `uj`; closing removes every
subscription and posts `livechat-close`; forwarding to an agent removes everyone else (`ul`).

Errors are raised as `LivechatError(key)`, which the REST layer answers as RC's
`API.v1.failure(key)`: 400 `{success:false, error:key}`.
"""

from __future__ import annotations

from typing import Any

from . import dates
from .livechat_closing import Transitions
from .livechat_model import LivechatError, Visitor
from .livechat_visitors import VisitorOps
from .state import MeteorError, State, User, random_id

__all__ = ["Livechat", "LivechatError", "Visitor"]

ROUTING_METHODS = ("Auto_Selection", "Manual_Selection", "External")


class Livechat(VisitorOps, Transitions):
    def __init__(self, state: State) -> None:
        self.state = state
        self.visitors: dict[str, Visitor] = {}
        self.departments: dict[str, dict[str, Any]] = {}
        self.department_agents: dict[str, list[str]] = {}  # department id -> user ids
        self.inquiries: dict[str, dict[str, Any]] = {}  # rid -> inquiry
        self.chat_counts: dict[str, int] = {}  # uid -> livechatCount (routing order)
        self.business_hours_open = True
        # what the server would have e-mailed (transcripts, offline messages), for tests to read
        self.outbox: list[dict[str, Any]] = []
        state.livechat = self

    # ---- settings ----------------------------------------------------------------------------

    def setting(self, key: str) -> Any:
        return self.state.settings.get(key)

    # ---- departments -------------------------------------------------------------------------

    def add_department(
        self,
        dep_id: str,
        name: str,
        agents: list[str] | tuple[str, ...] = (),
        *,
        enabled: bool = True,
        request_tags: bool = False,
        closing_tags: list[str] | tuple[str, ...] = (),
    ) -> dict[str, Any]:
        st = self.state
        with st.lock:
            uids = []
            for username in agents:
                user = st.find_user(username)
                if user is None:
                    raise ValueError(f"department {name!r}: no user {username!r}")
                uids.append(user.id)
            ts = dates.now()
            dep = {
                "_id": dep_id,
                "name": name,
                "enabled": enabled,
                "description": "",
                "showOnRegistration": True,
                "showOnOfflineForm": True,
                "requestTagBeforeClosingChat": request_tags,
                "chatClosingTags": list(closing_tags),
                "email": "",
                "offlineMessageChannelName": "",
                "numAgents": len(uids),
                "type": "d",
                "_updatedAt": ts,
            }
            self.departments[dep_id] = dep
            self.department_agents[dep_id] = uids
            return dep

    def department(self, key: str | None) -> dict[str, Any] | None:
        """By id or by name, like RC's `findOneByIdOrName`."""
        if not key or not isinstance(key, str):
            return None
        if key in self.departments:
            return self.departments[key]
        for dep in self.departments.values():
            if dep["name"] == key:
                return dep
        return None

    # ---- agents ------------------------------------------------------------------------------

    def is_agent(self, user: User | None) -> bool:
        return user is not None and "livechat-agent" in user.roles

    def is_online_agent(self, user: User) -> bool:
        """RC's queryStatusAgentOnline: agent, available, active, present (bots exempt)."""
        if not self.is_agent(user) or not user.active or user.status_livechat != "available":
            return False
        return "bot" in user.roles or user.status != "offline"

    def _agents(self, dep_id: str | None) -> list[User]:
        st = self.state
        if dep_id is None:
            return [u for u in st.users.values() if self.is_agent(u)]
        return [st.users[uid] for uid in self.department_agents.get(dep_id, []) if uid in st.users]

    def _least_busy(self, users: list[User]) -> User | None:
        if not users:
            return None
        return min(users, key=lambda u: (self.chat_counts.get(u.id, 0), u.username))

    def next_bot(self, dep_id: str | None) -> User | None:
        """`getNextBotAgent` / `getNextBotForDepartment`: roles bot + livechat-agent; no
        status filter (bots are exempt)."""
        bots = [u for u in self._agents(dep_id) if "bot" in u.roles and self.is_agent(u)]
        return self._least_busy(bots)

    def next_agent(self, dep_id: str | None) -> User | None:
        """Auto_Selection: the online agent with the fewest chats."""
        return self._least_busy([u for u in self._agents(dep_id) if self.is_online_agent(u)])

    def any_online(self, dep_id: str | None) -> bool:
        return any(self.is_online_agent(u) for u in self._agents(dep_id))

    def set_status(self, user: User, status: str) -> None:
        with self.state.lock:
            user.status_livechat = status

    def can_change_status(self, status: str) -> bool:
        """RC's allowAgentChangeServiceStatus: going available needs open business hours."""
        if status != "available":
            return True
        return not self.setting("Livechat_enable_business_hours") or self.business_hours_open

    def set_business_hours_open(self, is_open: bool) -> None:
        """Opening makes the agents available, closing makes them not-available (bots too),
        as RC's business-hour jobs do."""
        st = self.state
        with st.lock:
            st.settings["Livechat_enable_business_hours"] = True
            self.business_hours_open = is_open
            agents = [u for u in st.users.values() if self.is_agent(u)]
        for u in agents:
            self.set_status(u, "available" if is_open else "not-available")

    # ---- access ------------------------------------------------------------------------------

    def can_access(self, user: User, room: dict[str, Any]) -> bool:
        """canAccessRoom for `l`: joined (+ view-joined-room or view-l-room), view-livechat-rooms,
        the serving agent, a closed room with the closed-room permission."""
        st = self.state
        if (room["_id"], user.id) in st.subs and (
            st.has_permission(user, "view-joined-room") or st.has_permission(user, "view-l-room")
        ):
            return True
        if st.has_permission(user, "view-livechat-rooms"):
            return True
        served = room.get("servedBy") or {}
        if served.get("_id") == user.id:
            return True
        return not room.get("open") and st.has_permission(
            user, "view-livechat-room-closed-by-another-agent"
        )

    # ---- rooms -------------------------------------------------------------------------------

    def open_room_of(self, token: str, rid: str | None = None) -> dict[str, Any] | None:
        with self.state.lock:
            for room in self.state.rooms.values():
                if (
                    room["t"] == "l"
                    and room.get("open")
                    and room["v"]["token"] == token
                    and (rid is None or room["_id"] == rid)
                ):
                    return room
        return None

    def room_of(self, token: str, rid: Any) -> dict[str, Any] | None:
        """RC's findRoom(token, rid): the visitor's room, open or not."""
        room = self.state.room(rid)
        if room is None or room["t"] != "l" or room["v"]["token"] != token:
            return None
        return room

    def create_room(
        self,
        visitor: Visitor,
        *,
        agent_id: str | None = None,
        source: str = "api",
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """QueueManager.requestRoom: the online pre-check, the room, the inquiry, routing."""
        st = self.state
        with st.lock:
            dep = self.departments.get(visitor.department or "")
            dep_id = dep["_id"] if dep and dep["enabled"] else None
            requested = st.find_user(agent_id) if agent_id else None
            if requested is not None and not self.is_agent(requested):
                requested = None
            if not self.setting("Livechat_accept_chats_with_no_agents"):
                online = (
                    self.is_online_agent(requested)
                    if requested is not None
                    else self.any_online(dep_id)
                )
                if not online:
                    raise MeteorError("no-agent-online", "Sorry, no online agents")
            ts = dates.now()
            fname = visitor.name or visitor.username
            room: dict[str, Any] = {
                "_id": random_id(),
                "t": "l",
                "fname": fname,
                "msgs": 0,
                "usersCount": 0,
                "lm": ts,
                "ts": ts,
                "_updatedAt": ts,
                "v": visitor.v(),
                "cl": False,
                "open": True,
                "waitingResponse": True,
                "source": {"type": source},
                "queuedAt": ts,
            }
            if dep_id:
                room["departmentId"] = dep_id
            st.rooms[room["_id"]] = room
            st.messages[room["_id"]] = []
            # RC's createLivechatRoom announces the chat before it is routed.
            st._store_message(
                room,
                visitor,  # type: ignore[arg-type]
                {"t": "livechat-started", "msg": "", "groupable": False, "token": visitor.token},
            )
            self.inquiries[room["_id"]] = {
                "_id": random_id(),
                "rid": room["_id"],
                "name": fname,
                "ts": ts,
                "status": "queued",
                "v": visitor.v(),
                "t": "l",
                "department": dep_id,
                "source": {"type": source},
                **({"extraData": extra} if extra else {}),
            }
            agent = requested
            if agent is None and self.setting("Livechat_assign_new_conversation_to_bot"):
                agent = self.next_bot(dep_id)
            method = self.setting("Livechat_Routing_Method")
            ready = method == "Auto_Selection" or (agent is not None and "bot" in agent.roles)
            if ready:
                if agent is not None and not (self.is_online_agent(agent) or "bot" in agent.roles):
                    agent = None
                if agent is None and method == "Auto_Selection":
                    agent = self.next_agent(dep_id)
                if agent is not None:
                    self.assign(room, agent)
            return room

    def _livechat_subscription(self, room: dict[str, Any], agent: User) -> dict[str, Any]:
        """RC's createLivechatSubscription (an existing subscription is kept)."""
        st = self.state
        existing = st.subs.get((room["_id"], agent.id))
        if existing is not None:
            return existing
        ts = dates.now()
        sub: dict[str, Any] = {
            "_id": random_id(),
            "rid": room["_id"],
            "name": room["fname"],
            "fname": room["fname"],
            "alert": True,
            "open": True,
            "unread": 1,
            "userMentions": 1,
            "groupMentions": 0,
            "u": {"_id": agent.id, "username": agent.username, "name": agent.name},
            "t": "l",
            "desktopNotifications": "all",
            "mobilePushNotifications": "all",
            "emailNotifications": "all",
            "v": dict(room["v"]),
            "ts": ts,
            "ls": ts,
            "lr": ts,
            "f": False,
            "roles": [],
            "_updatedAt": ts,
        }
        if room.get("departmentId"):
            sub["department"] = room["departmentId"]
        st.subs[(room["_id"], agent.id)] = sub
        room["usersCount"] = sum(1 for r, _ in st.subs if r == room["_id"])
        st.emit(("subscriptions-changed", agent.id, "inserted", sub))
        st.emit(("rooms-changed", agent.id, "inserted", room))
        return sub

    def assign(self, room: dict[str, Any], agent: User) -> None:
        """RoutingManager.assignAgent: servedBy, subscription, `command`/`connected` + `uj`."""
        st = self.state
        with st.lock:
            ts = dates.now()
            room["servedBy"] = {"_id": agent.id, "username": agent.username, "ts": ts}
            room["_updatedAt"] = ts
            inquiry = self.inquiries.get(room["_id"])
            if inquiry is not None:
                inquiry.update(status="taken", takenAt=ts)
            self.chat_counts[agent.id] = self.chat_counts.get(agent.id, 0) + 1
            self._livechat_subscription(room, agent)
            st.system_message(room, agent, "command", "connected")
            st.system_message(room, agent, "uj", agent.username)
            # RC's dispatchAgentDelegated: the widget learns its agent on `stream-livechat-room`.
            st.emit(("livechat-room", room, {"type": "agentData", "data": self.agent_info(agent)}))

    def agent_info(self, agent: User) -> dict[str, Any]:
        """RC's Users.getAgentInfo: what a visitor's widget is told of its agent."""
        info: dict[str, Any] = {
            "_id": agent.id,
            "name": agent.name,
            "username": agent.username,
            "status": agent.status,
        }
        if self.setting("Livechat_show_agent_email") and agent.email:
            info["emails"] = [{"address": agent.email, "verified": True}]
        return info

    def visitor_message(
        self,
        visitor: Visitor,
        room: dict[str, Any],
        text: str,
        mid: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        st = self.state
        with st.lock:
            if mid is not None and st.find_message(mid):
                raise MeteorError(
                    11000,
                    "E11000 duplicate key error collection: rocketchat_message "
                    f'index: _id_ dup key: {{ _id: "{mid}" }}',
                )
            fields: dict[str, Any] = {
                "_id": mid or random_id(),
                "msg": text,
                "token": visitor.token,
            }
            if visitor.name:
                fields["alias"] = visitor.name
            fields.update(extra or {})
            msg = st._store_message(room, visitor, fields)  # type: ignore[arg-type]
            room["waitingResponse"] = True
            return msg
