"""Realtime API: DDP over WebSocket at `/websocket`, with Rocket.Chat's streams.

Frames follow Meteor's livedata server (greeting, connect/failed, ping/pong, result+updated,
`{msg:"error", reason, offendingMessage}` for malformed input) and RC's streamer (`changed`
frames with `id:"id"`, the `added` document for the legacy `true` option).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from . import contracts
from .state import BYPASS_ROLES, STATUS_CODES, MeteorError, User, random_id, wire

if TYPE_CHECKING:
    from .server import DevServer

log = logging.getLogger(__name__)

SUPPORTED = ["1", "pre2", "pre1"]
MAX_FRAME = 1 << 20
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
ALWAYS_READY = {
    "meteor.loginServiceConfiguration",
    "meteor_autoupdate_clientVersions",
    "activeUsers",
    "userData",
}


class MatchFailed(MeteorError):
    def __init__(self) -> None:
        super().__init__(400, "Match failed")


@dataclass
class Sub:
    id: str
    name: str
    event: str
    visitor_token: str | None = None  # a livechat widget reading its room without an account


@dataclass(eq=False)
class Session:
    ws: web.WebSocketResponse
    id: str = field(default_factory=random_id)
    connected: bool = False
    user: User | None = None
    subs: dict[str, Sub] = field(default_factory=dict)
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    last_seen: float = 0.0

    def send(self, frame: dict[str, Any]) -> None:
        self.out.put_nowait(json.dumps(frame, separators=(",", ":")))

    def send_raw(self, text: str) -> None:
        self.out.put_nowait(text)


class Hub:
    """All sessions; turns state events into stream frames."""

    def __init__(self, server: DevServer, ping_interval: float) -> None:
        self.srv = server
        self.state = server.state
        self.ping_interval = ping_interval
        self.sessions: set[Session] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.paused = False
        self.held: list[tuple] = []
        self.methods: dict[str, Callable[[Session, list], Any]] = {
            "login": self.m_login,
            "logout": self.m_logout,
            "sendMessage": self.m_send_message,
            "updateMessage": self.m_update_message,
            "deleteMessage": self.m_delete_message,
            "createDirectMessage": self.m_create_dm,
            "getRoomIdByNameOrId": self.m_room_id,
            "getRoomNameById": self.m_room_name,
            "joinRoom": self.m_join,
            "leaveRoom": self.m_leave,
            "setReaction": self.m_react,
            "rooms/get": self.m_rooms_get,
            "subscriptions/get": self.m_subs_get,
            "readMessages": self.m_read,
            "UserPresence:setDefaultStatus": self.m_default_status,
            "UserPresence:online": lambda s, p: self.m_presence(s, "online"),
            "UserPresence:away": lambda s, p: self.m_presence(s, "away"),
            "stream-notify-room": self.m_notify_room,
            "stream-notify-user": lambda s, p: None,
        }

    # ---- event delivery (state → frames) -----------------------------------------------------

    def publish(self, event: tuple) -> None:
        """Called from any thread by State; delivery happens on the loop, in order."""
        # Snapshot documents now: a held or queued event must not see later edits.
        event = tuple(
            copy.deepcopy(x) if isinstance(x, dict) and i > 1 else x for i, x in enumerate(event)
        )
        if event[0] == "user-status":
            u: User = event[1]
            code = STATUS_CODES[u.status]
            event = ("user-status", [u.id, u.username, code, u.status_text, u.name, list(u.roles)])
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(event)
        else:
            loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: tuple) -> None:
        if self.paused:
            self.held.append(event)
            return
        # Snapshot the event now, as a real server serialises at emit time.
        try:
            self._fanout(event)
        except Exception:
            log.exception("delivering %s", event[0])

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        def go() -> None:
            self.paused = False
            held, self.held = self.held, []
            for e in held:
                self._fanout(e)

        if self.loop:
            self.loop.call_soon_threadsafe(go)

    def _emit(self, session: Session, stream: str, event_name: str, args: list) -> None:
        for sub in session.subs.values():
            if sub.name == stream and sub.event == event_name:
                session.send(
                    {
                        "msg": "changed",
                        "collection": stream,
                        "id": "id",
                        "fields": {"eventName": event_name, "args": wire(args, "ddp")},
                    }
                )
                return

    def _to_visitor(self, session: Session, room: dict, msg: dict) -> None:
        token = (room.get("v") or {}).get("token")
        for sub in session.subs.values():
            if sub.event == room["_id"] and token and sub.visitor_token == token:
                self._emit(session, "stream-room-messages", room["_id"], [msg])
                return

    def _fanout(self, event: tuple) -> None:
        kind = event[0]
        st = self.state
        if kind == "message":
            _, room, msg = event
            msg = wire(msg, "ddp")
            for s in list(self.sessions):
                if s.user is None:
                    self._to_visitor(s, room, msg)
                    continue
                if not st.can_access(s.user, room):
                    continue
                meta = {
                    "roomParticipant": st.sub(room["_id"], s.user.id) is not None,
                    "roomType": room["t"],
                }
                if room.get("name"):
                    # RC sends `room.name`, which DMs lack, so the key vanishes from the JSON.
                    meta["roomName"] = room["name"]
                self._emit(s, "stream-room-messages", "__my_messages__", [msg, meta])
                self._emit(s, "stream-room-messages", room["_id"], [msg])
        elif kind in ("rooms-changed", "subscriptions-changed", "notification", "ephemeral"):
            uid = event[1]
            name = {"ephemeral": "message"}.get(kind, kind)
            args = (
                [event[2], event[3]]
                if kind in ("rooms-changed", "subscriptions-changed")
                else [event[2]]
            )
            for s in list(self.sessions):
                if s.user is not None and s.user.id == uid:
                    self._emit(s, "stream-notify-user", f"{uid}/{name}", args)
        elif kind == "user-status":
            args = [event[1]]
            for s in list(self.sessions):
                if s.user is not None:
                    self._emit(s, "stream-notify-logged", "user-status", args)
        elif kind == "deleteMessage":
            _, room, body = event
            for s in list(self.sessions):
                if s.user is not None and st.can_access(s.user, room):
                    self._emit(s, "stream-notify-room", f"{room['_id']}/deleteMessage", [body])
        elif kind == "typing":
            _, room, username, args, origin, name = event
            for s in list(self.sessions):
                if s is not origin and s.user is not None and st.can_access(s.user, room):
                    self._emit(s, "stream-notify-room", f"{room['_id']}/{name}", [username, *args])

    # ---- sockets -----------------------------------------------------------------------------

    async def drop_all(self) -> int:
        sessions = list(self.sessions)
        for s in sessions:
            await s.ws.close(code=1001, message=b"dropped by test hook")
        return len(sessions)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, autoping=True, heartbeat=None)
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        session = Session(ws, last_seen=loop.time())
        self.sessions.add(session)
        writer = asyncio.create_task(self._writer(session))
        pinger = asyncio.create_task(self._pinger(session)) if self.ping_interval > 0 else None
        session.send_raw('{"server_id":"0"}')
        try:
            async for frame in ws:
                session.last_seen = loop.time()
                if frame.type == WSMsgType.TEXT:
                    try:
                        await self._on_text(session, frame.data)
                    except Exception:
                        # One bad frame must not end the session, let alone the server.
                        log.exception("DDP frame failed in session %s", session.id)
                        self._error(session, "Internal server error")
                elif frame.type == WSMsgType.BINARY:
                    session.send({"msg": "error", "reason": "Bad request"})
                elif frame.type == WSMsgType.ERROR:
                    break
        except Exception:
            log.exception("DDP session %s failed", session.id)
        finally:
            self.sessions.discard(session)
            if pinger:
                pinger.cancel()
            session.out.put_nowait(None)
            try:
                await asyncio.wait_for(writer, 2)
            except (TimeoutError, asyncio.CancelledError):
                writer.cancel()
            if session.user is not None:
                self.state.connection_closed(session.user)
            if not ws.closed:
                await ws.close()
        return ws

    async def _writer(self, session: Session) -> None:
        while True:
            text = await session.out.get()
            if text is None or session.ws.closed:
                return
            try:
                await session.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _pinger(self, session: Session) -> None:
        """Meteor's heartbeat: ping after silence, drop the socket if nothing comes back."""
        loop = asyncio.get_running_loop()
        interval = self.ping_interval
        while not session.ws.closed:
            await asyncio.sleep(interval / 2)
            idle = loop.time() - session.last_seen
            if idle >= interval * 3:
                await session.ws.close(code=4000, message=b"TIMEOUT")
                return
            if idle >= interval:
                session.send({"msg": "ping"})
                await asyncio.sleep(interval)

    def _error(self, session: Session, reason: str, offending: Any = None) -> None:
        frame: dict[str, Any] = {"msg": "error", "reason": reason}
        if offending is not None:
            frame["offendingMessage"] = offending
        session.send(frame)

    async def _on_text(self, s: Session, raw: str) -> None:
        if raw.startswith("["):
            # ddp-streamer accepts SockJS-style arrays whose first element is the message.
            try:
                arr = json.loads(raw)
                raw = arr[0] if isinstance(arr, list) and arr and isinstance(arr[0], str) else raw
            except (ValueError, RecursionError):
                pass
        try:
            msg = json.loads(raw)
        except (ValueError, RecursionError):
            self._error(s, "Parse error")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("msg"), str):
            self._error(s, "Bad request", msg if isinstance(msg, dict) else None)
            return
        kind = msg["msg"]
        if kind == "connect":
            if s.connected:
                self._error(s, "Already connected", msg)
                return
            version, support = msg.get("version"), msg.get("support")
            if not (
                isinstance(version, str)
                and isinstance(support, list)
                and version in support
                and version in SUPPORTED
            ):
                s.send({"msg": "failed", "version": SUPPORTED[0]})
                await asyncio.sleep(0)
                s.out.put_nowait(None)
                await asyncio.sleep(0.05)
                await s.ws.close()
                return
            s.connected = True
            s.send({"msg": "connected", "session": s.id})
            return
        if not s.connected:
            self._error(s, "Must connect first", msg)
            return
        if kind == "ping":
            s.send({"msg": "pong", **({"id": msg["id"]} if "id" in msg else {})})
        elif kind == "pong":
            pass
        elif kind == "method":
            await self._on_method(s, msg)
        elif kind == "sub":
            self._on_sub(s, msg)
        elif kind == "unsub":
            if not isinstance(msg.get("id"), str):
                self._error(s, "Bad request", msg)
                return
            s.subs.pop(msg["id"], None)
            s.send({"msg": "nosub", "id": msg["id"]})
        else:
            self._error(s, "Bad request", msg)

    # ---- methods -----------------------------------------------------------------------------

    async def _on_method(self, s: Session, msg: dict) -> None:
        mid, name, params = msg.get("id"), msg.get("method"), msg.get("params", [])
        if not isinstance(mid, str) or not isinstance(name, str) or not isinstance(params, list):
            self._error(s, "Malformed method invocation", msg)
            return
        frame: dict[str, Any] = {"msg": "result", "id": mid}
        status: int | str = "ok"
        try:
            fn = self.methods.get(name)
            if fn is None:
                raise MeteorError(404, f"Method '{name}' not found")
            self._ddp_rate_limit(s, name)
            if (refusal := contracts.check_ddp(name, params)) is not None:  # issue 21
                raise MeteorError(refusal["error"], refusal["reason"], refusal.get("details"))
            result = fn(s, params)
            if asyncio.iscoroutine(result):
                result = await result
            if result is not None:
                frame["result"] = wire(result, "ddp")
        except MeteorError as e:
            frame["error"] = e.ddp()
            status = e.error
        except (TypeError, KeyError, AttributeError, IndexError, ValueError):
            frame["error"] = MatchFailed().ddp()
            status = 400
        except Exception:
            log.exception("method %s failed", name)
            frame["error"] = MeteorError(500, "Internal server error").ddp()
            status = 500
        self.srv.record("ddp", name, s.user, params, status)
        s.send(frame)
        s.send({"msg": "updated", "methods": [mid]})

    def _ddp_rate_limit(self, s: Session, name: str) -> None:
        limits = self.srv.limits
        if not limits.enabled or s.user is None:
            return
        if limits.exempt_bots and s.user.has_any(BYPASS_ROLES):
            return
        window = {"sendMessage": limits.send_message, "createDirectMessage": limits.create_dm}.get(
            name
        )
        if window is None:
            return
        v = window.hit(s.user.id)
        if not v.allowed:
            secs = max(1, round(v.time_to_reset_ms / 1000))
            raise MeteorError(
                "too-many-requests",
                "Error, too many requests. Please slow down. "
                f"You must wait {secs} seconds before trying again.",
                {"timeToReset": v.time_to_reset_ms},
            )

    def _need_user(self, s: Session, method: str) -> User:
        if s.user is None:
            raise MeteorError("error-invalid-user", "Invalid user", {"method": method})
        return s.user

    def m_login(self, s: Session, params: list) -> dict:
        st = self.state
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

    def m_logout(self, s: Session, params: list) -> None:
        if s.user is not None:
            user, s.user = s.user, None
            self.state.connection_closed(user)

    def m_send_message(self, s: Session, params: list) -> Any:
        user = self._need_user(s, "sendMessage")
        if not params or not isinstance(params[0], dict):
            raise MatchFailed()
        m = params[0]
        if set(m) - SEND_MESSAGE_KEYS or not isinstance(m.get("rid"), str):
            raise MatchFailed()
        if "msg" in m and not isinstance(m["msg"], str):
            raise MatchFailed()
        room = self.state.room(m["rid"])
        if room is None or not self.state.can_access(user, room):
            raise MeteorError("error-not-allowed", "Not allowed", {"method": "sendMessage"})
        ts = m.get("ts")
        fields = {k: v for k, v in m.items() if k not in ("rid", "ts")}
        try:
            # Beyond 60 s RC refuses; between 10 and 60 s it silently uses server time.
            stamp = ts.get("$date") if isinstance(ts, dict) else None
            if isinstance(stamp, int | float) and abs(stamp / 1000 - time.time()) > 60:
                raise MeteorError("error-message-ts-out-of-sync", "Message ts is out of sync")
            return self.state.post_message(user, room, fields)
        except MeteorError as e:
            if e.error == "error-not-allowed":
                raise
            # Current RC swallows other failures and explains them in an ephemeral message.
            self.state.ephemeral(user, room["_id"], e.reason)
            return None

    def m_update_message(self, s: Session, params: list) -> None:
        user = self._need_user(s, "updateMessage")
        m = params[0]
        msg = self.state.find_message(m["_id"])
        if msg is None or not isinstance(m.get("msg"), str):
            raise MeteorError("error-invalid-message", "Invalid message")
        self.state.update_message(user, msg, m["msg"])

    def m_delete_message(self, s: Session, params: list) -> None:
        user = self._need_user(s, "deleteMessage")
        msg = self.state.find_message(params[0]["_id"])
        if msg is None:
            raise MeteorError(
                "error-invalid-message", "Invalid message", {"method": "deleteMessage"}
            )
        self.state.delete_message(user, msg)

    def m_create_dm(self, s: Session, params: list) -> dict:
        user = self._need_user(s, "createDirectMessage")
        others = []
        for name in params:
            if not isinstance(name, str):
                raise MatchFailed()
            u = self.state.find_user(name)
            if u is None:
                raise MeteorError(
                    "error-invalid-user", "Invalid user", {"method": "createDirectMessage"}
                )
            others.append(u)
        room = self.state.direct_room(user, others)
        return {"rid": room["_id"], **{k: v for k, v in room.items() if k != "_id"}}

    def m_room_id(self, s: Session, params: list) -> str:
        user = self._need_user(s, "getRoomIdByNameOrId")
        key = params[0]
        if not isinstance(key, str):
            raise MatchFailed()
        room = self.state.room(key) or self.state.room_by_name(key)
        if room is None or not self.state.can_access(user, room):
            raise MeteorError("error-not-allowed", "Not allowed", {"method": "getRoomIdByNameOrId"})
        return room["_id"]

    def m_room_name(self, s: Session, params: list) -> str:
        user = self._need_user(s, "getRoomNameById")
        room = self.state.room(params[0])
        if room is None or not self.state.can_access(user, room):
            raise MeteorError("error-not-allowed", "Not allowed", {"method": "getRoomNameById"})
        return room.get("name") or ""

    def m_join(self, s: Session, params: list) -> bool:
        user = self._need_user(s, "joinRoom")
        room = self.state.room(params[0]) if isinstance(params[0], str) else None
        if room is None:
            raise MeteorError("error-invalid-room", "Invalid room", {"method": "joinRoom"})
        if room["t"] != "c":
            raise MeteorError("error-not-allowed", "Not allowed", {"method": "joinRoom"})
        self.state.add_member(room, user, None, "uj")
        return True

    def m_leave(self, s: Session, params: list) -> None:
        user = self._need_user(s, "leaveRoom")
        room = self.state.room(params[0])
        if room is None:
            raise MeteorError("error-invalid-room", "Invalid room", {"method": "leaveRoom"})
        self.state.remove_member(room, user, None, "ul")

    def m_react(self, s: Session, params: list) -> None:
        user = self._need_user(s, "setReaction")
        emoji, mid = params[0], params[1]
        if not isinstance(emoji, str) or not isinstance(mid, str):
            raise MatchFailed()
        msg = self.state.find_message(mid)
        if msg is None:
            raise MeteorError("error-not-allowed", "Not allowed", {"method": "setReaction"})
        self.state.react(user, msg, emoji, params[2] if len(params) > 2 else None)

    def m_rooms_get(self, s: Session, params: list) -> Any:
        user = self._need_user(s, "rooms/get")
        rooms = [self.state.rooms[rid] for (rid, uid) in list(self.state.subs) if uid == user.id]
        if params and isinstance(params[0], dict) and "$date" in params[0]:
            since = params[0]["$date"]
            rooms = [r for r in rooms if r["_updatedAt"].timestamp() * 1000 > since]
            return {"update": rooms, "remove": []}
        return rooms

    def m_subs_get(self, s: Session, params: list) -> Any:
        user = self._need_user(s, "subscriptions/get")
        return [sub for (_, uid), sub in list(self.state.subs.items()) if uid == user.id]

    def m_read(self, s: Session, params: list) -> None:
        user = self._need_user(s, "readMessages")
        room = self.state.room(params[0])
        if room is not None:
            self.state.mark_read(user, room)

    def m_default_status(self, s: Session, params: list) -> bool | None:
        if s.user is None:
            return None
        status = params[0]
        if not isinstance(status, str) or status not in STATUS_CODES:
            raise MatchFailed()
        self.state.set_status(s.user, status)
        return True

    def m_presence(self, s: Session, status: str) -> None:
        if s.user is not None:
            self.state.set_status(s.user, status, default=False)

    def m_notify_room(self, s: Session, params: list) -> None:
        if s.user is None or len(params) < 2 or not isinstance(params[0], str):
            return None
        rid, _, event = params[0].partition("/")
        room = self.state.room(rid)
        if (
            event in ("user-activity", "typing")
            and room
            and params[1] == s.user.username
            and self.state.can_access(s.user, room)
        ):
            self.publish(("typing", room, s.user.username, list(params[2:]), s, event))
        return None

    # ---- subscriptions -----------------------------------------------------------------------

    def _on_sub(self, s: Session, msg: dict) -> None:
        sid, name, params = msg.get("id"), msg.get("name"), msg.get("params", [])
        if not isinstance(sid, str) or not isinstance(name, str) or not isinstance(params, list):
            self._error(s, "Malformed subscription", msg)
            return
        if name in ALWAYS_READY:
            s.send({"msg": "ready", "subs": [sid]})
            return
        if not name.startswith("stream-") or name not in (
            "stream-room-messages",
            "stream-notify-user",
            "stream-notify-logged",
            "stream-notify-room",
        ):
            s.send(
                {
                    "msg": "nosub",
                    "id": sid,
                    "error": MeteorError(404, f"Subscription '{name}' not found").ddp(),
                }
            )
            return
        event = params[0] if params else None
        options = params[1] if len(params) > 1 else False
        if not isinstance(event, str) or not event:
            s.send(
                {
                    "msg": "nosub",
                    "id": sid,
                    "error": MeteorError("invalid-event-name", "Invalid event name").ddp(),
                }
            )
            return
        token = None
        if isinstance(options, dict) and isinstance(options.get("args"), list):
            first = options["args"][0] if options["args"] else None
            if isinstance(first, dict):
                token = first.get("visitorToken") or first.get("token")
        token = token if isinstance(token, str) and token else None
        if not self._can_read(s, name, event, token):
            s.send(
                {
                    "msg": "nosub",
                    "id": sid,
                    "error": MeteorError("not-allowed", "Not allowed").ddp(),
                }
            )
            return
        s.subs[sid] = Sub(sid, name, event, token if s.user is None else None)
        if options is True or (isinstance(options, dict) and options.get("useCollection") is True):
            s.send({"msg": "added", "collection": name, "id": "id", "fields": {"eventName": event}})
        s.send({"msg": "ready", "subs": [sid]})

    def _can_read(self, s: Session, name: str, event: str, token: str | None = None) -> bool:
        user, st = s.user, self.state
        if name == "stream-room-messages":
            if event == "__my_messages__":
                return True
            room = st.room(event)
            if user is None and token and room is not None and room["t"] == "l":
                # RC's livechat roomAccessValidator: the visitor token opens its own room.
                return room["v"]["token"] == token
            return user is not None and st.can_access(user, room)
        if user is None:
            return False
        if name == "stream-notify-user":
            return event.split("/", 1)[0] == user.id
        if name == "stream-notify-room":
            return st.can_access(user, st.room(event.split("/", 1)[0]))
        return True
