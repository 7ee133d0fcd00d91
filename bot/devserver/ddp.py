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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from . import contracts, ddp_authz, ddp_livechat, ddp_methods, membership
from .ddp_methods import MatchFailed, Method
from .ddp_streams import Sub, on_sub
from .model import BYPASS_ROLES, STATUS_CODES, MeteorError, User, random_id, wire

if TYPE_CHECKING:
    from .server import DevServer

log = logging.getLogger(__name__)

SUPPORTED = ["1", "pre2", "pre1"]
MAX_FRAME = 1 << 20


@dataclass(eq=False)
class Session:
    ws: web.WebSocketResponse
    id: str = field(default_factory=random_id)
    connected: bool = False
    user: User | None = None
    subs: dict[str, Sub] = field(default_factory=dict)
    out: asyncio.Queue = field(default_factory=asyncio.Queue)
    last_seen: float = 0.0
    livechat_token: str | None = None  # a widget's visitor token (`livechat:setUpConnection`)

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
        # name -> fn(hub, session, params), from every module that defines DDP methods
        self.methods: dict[str, Method] = {
            **ddp_methods.METHODS,
            **membership.METHODS,
            **ddp_livechat.METHODS,
            **ddp_authz.METHODS,
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
        if self._visitor_of(session, room):
            self._emit(session, "stream-room-messages", room["_id"], [msg])

    @staticmethod
    def _visitor_of(session: Session, room: dict) -> bool:
        """Whether this accountless session is the room's visitor (a subscription's token)."""
        token = (room.get("v") or {}).get("token")
        if session.user is not None or not token:
            return False
        return session.livechat_token == token or any(
            sub.visitor_token == token for sub in session.subs.values()
        )

    def _reads_room(self, session: Session, room: dict) -> bool:
        if session.user is None:
            return self._visitor_of(session, room)
        return self.state.can_access(session.user, room)

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
                if self._reads_room(s, room):
                    self._emit(s, "stream-notify-room", f"{room['_id']}/deleteMessage", [body])
        elif kind == "typing":
            _, room, username, args, origin, name = event
            for s in list(self.sessions):
                if s is not origin and self._reads_room(s, room):
                    self._emit(s, "stream-notify-room", f"{room['_id']}/{name}", [username, *args])
        elif kind == "livechat-room":
            _, room, payload = event
            for s in list(self.sessions):
                if self._reads_room(s, room):
                    self._emit(s, "stream-livechat-room", room["_id"], [payload])

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
            if session.livechat_token:
                ddp_livechat.connection_closed(self, session)
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
            on_sub(self, s, msg)
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
            result = await self.call(s, name, params)
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

    async def call(self, s: Session, name: str, params: list, *, rate_limit: bool = True) -> Any:
        """Every DDP method call passes here, from a socket or from REST `method.call`."""
        fn = self.methods.get(name)
        if fn is None:
            raise MeteorError(404, f"Method '{name}' not found")
        if rate_limit:
            self._ddp_rate_limit(s, name)
        self.check_method(name, params)
        result = fn(self, s, params)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def check_method(self, name: str, params: list) -> None:
        """Every method call (socket or REST `method.call`) passes here: the parameters that
        Rocket.Chat's `check()` refuses are refused with its Match error (issue 21)."""
        if (refusal := contracts.check_ddp(name, params)) is not None:
            raise MeteorError(refusal["error"], refusal["reason"], refusal.get("details"))

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
