"""`RocketChatClient`: DDP for events and fast replies, REST for everything else.

`start()` logs in over REST and DDP and subscribes to the bot's streams; from then on a supervisor
thread watches the socket and, on any drop, reconnects with exponential back-off and jitter, logs
in again, subscribes again and tells the listener `on_connected(first=False)` so the app can catch
up from history. Stream frames are parsed once, here; a frame that does not parse is logged and
dropped.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.chat import effect_scope
from bot.chat.errors import (
    AuthenticationFailed,
    CallTimeout,
    ConnectionLost,
    NotAllowed,
    NotFound,
    RateLimited,
    RocketChatError,
)
from bot.chat.types import (
    Attachment,
    FileInfo,
    Message,
    Room,
    Subscription,
    User,
    Visitor,
)
from bot.domain.bounded import BoundedCache
from bot.rocketchat.ddp import DDPClient
from bot.rocketchat.rest import RestClient
from bot.rocketchat.wire import (
    WireFormatError,
    attachment_to_wire,
    message_from_wire,
    subscription_from_wire,
    to_wire_date,
    user_from_wire,
)

log = logging.getLogger(__name__)

_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"  # Meteor's Random.id
_STATUS = {0: "offline", 1: "online", 2: "away", 3: "busy"}
_USER_TTL = 60.0
#: entries per transport cache (DM rooms, rooms, users): a flood of new users cannot grow them
CACHE_SIZE = 10_000
_SEND_ATTEMPTS = 5
#: seconds a send or REST call keeps waiting out rate limits before it gives up: a reply
#: must not be lost because eight workers compete for a few messages per second
RATE_LIMIT_BUDGET = 120.0


#: random bytes below this map evenly onto the alphabet (rejection sampling keeps it uniform)
_ID_BYTE_LIMIT = 256 - 256 % len(_ID_ALPHABET)


def random_id(length: int = 17) -> str:
    """A Meteor-style id, from one `os.urandom` call: `secrets.choice` per character made a
    system call each, a tenth of the bot's CPU for a reply."""
    chars: list[str] = []
    while len(chars) < length:
        chars += [
            _ID_ALPHABET[b % len(_ID_ALPHABET)]
            for b in secrets.token_bytes(2 * length)
            if b < _ID_BYTE_LIMIT
        ]
    return "".join(chars[:length])


def _message_id(rid: str) -> str:
    """The effect scope's id for the next message to `rid`, else a random one."""
    return effect_scope.next_message_id(rid) or random_id()


class Listener(Protocol):
    def on_message(self, message: Message) -> None: ...
    def on_connected(self, first: bool) -> None: ...
    def on_disconnected(self, reason: str) -> None: ...
    def on_presence(self, user_id: str, username: str, status: str) -> None: ...
    def on_subscription(self, action: str, subscription: Subscription | None, rid: str) -> None: ...


def _ws_url(url: str) -> str:
    base = url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/websocket"
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + "/websocket"
    return base + "/websocket"


class RocketChatClient:
    """Implements `bot.chat.port.ChatPort` plus the transport → app listener contract."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        user_id: str | None = None,
        token: str | None = None,
        listener: Listener,
        ping_interval: float = 15.0,
        call_timeout: float = 30.0,
        backoff_cap: float = 30.0,
    ) -> None:
        if not ((username and password) or (user_id and token)):
            raise ValueError("RocketChatClient needs username+password or user_id+token")
        self.url = url.rstrip("/")
        self.ws_url = _ws_url(self.url)
        self._username = username
        self._password = password
        self._token = token
        self.listener = listener
        self.ping_interval = ping_interval
        self.call_timeout = call_timeout
        self.backoff_cap = backoff_cap
        self.rest = RestClient(
            self.url,
            username=username,
            password=password,
            user_id=user_id,
            token=token,
            rate_limit_budget=RATE_LIMIT_BUDGET,
        )
        self.bot_user: User = User(id=user_id or "", username=username or "")
        self.reconnects = 0
        self._ddp: DDPClient | None = None
        self._connected = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._dropped = threading.Event()
        self._supervisor: threading.Thread | None = None
        # Bounded (issue 20): a DM room per user written to, a room per room seen, a user per
        # lookup: at most CACHE_SIZE each, least recently used first out; users also expire.
        self._dm_rids: BoundedCache[str, str] = BoundedCache(CACHE_SIZE)
        self._rooms: BoundedCache[str, Room] = BoundedCache(CACHE_SIZE)
        self._users: BoundedCache[tuple[str, str], tuple[float, User | None]] = BoundedCache(
            CACHE_SIZE, ttl=_USER_TTL
        )

    @classmethod
    def from_settings(cls, server: Any, listener: Listener, **kwargs: Any) -> RocketChatClient:
        """From the config's `server` section (url, username, password, user_id, token)."""
        return cls(
            server.url,
            username=getattr(server, "username", None) or None,
            password=getattr(server, "password", None) or None,
            user_id=getattr(server, "user_id", None) or None,
            token=getattr(server, "token", None) or None,
            listener=listener,
            **kwargs,
        )

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected and self._ddp is not None and self._ddp.is_open

    def start(self) -> None:
        """Log in (REST + DDP) and subscribe; raises `AuthenticationFailed` on bad credentials."""
        self._stop.clear()
        self.bot_user = self.rest.login()
        self._open_ddp()
        self._notify("on_connected", True)
        self._supervisor = threading.Thread(
            target=self._supervise, name="rc-supervisor", daemon=True
        )
        self._supervisor.start()

    def stop(self) -> None:
        self._stop.set()
        self._dropped.set()  # wake the supervisor
        with self._lock:
            ddp, self._ddp = self._ddp, None
            self._connected = False
        if ddp is not None:
            ddp.close()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout=10)

    def _open_ddp(self) -> None:
        ddp = DDPClient(
            self.ws_url,
            on_changed=self._on_changed,
            ping_interval=self.ping_interval,
            connect_timeout=min(self.call_timeout, 15.0),
        )
        ddp.on_close = lambda reason: self._on_ddp_close(ddp, reason)
        try:
            ddp.connect()
            if self._password and self._username:
                login = ddp.login_password(
                    self._username, self._password, timeout=self.call_timeout
                )
            else:
                assert self._token
                login = ddp.login_token(self._token, timeout=self.call_timeout)
            uid = login.user_id
            subs: list[tuple[str, list[Any]]] = [
                ("stream-room-messages", ["__my_messages__", {"useCollection": False, "args": []}]),
                ("stream-notify-user", [f"{uid}/rooms-changed", False]),
                ("stream-notify-user", [f"{uid}/subscriptions-changed", False]),
                ("stream-notify-logged", ["user-status", False]),
            ]
            for name, params in subs:
                ddp.subscribe(name, params, timeout=self.call_timeout)
        except BaseException:
            ddp.on_close = None
            ddp.close()
            raise
        with self._lock:
            old, self._ddp = self._ddp, ddp
            self._connected = True
            self._dropped.clear()
        if old is not None and old is not ddp:
            old.on_close = None
            old.close()
        # The socket may have died between subscribing and publishing it above.
        if not ddp.is_open:
            self._on_ddp_close(ddp, "closed during setup")

    def _on_ddp_close(self, ddp: DDPClient, reason: str) -> None:
        with self._lock:
            if ddp is not self._ddp:
                return  # an old socket's late goodbye
            self._connected = False
        if self._stop.is_set():
            return
        log.warning("realtime connection lost: %s", reason)
        self._notify("on_disconnected", reason)
        self._dropped.set()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self._dropped.wait()
            if self._stop.is_set():
                return
            attempt = 0
            while not self._stop.is_set():
                delay = min(self.backoff_cap, 0.5 * 2**attempt) * random.uniform(0.5, 1.0)
                attempt += 1
                if self._stop.wait(delay):
                    return
                try:
                    self._open_ddp()
                except AuthenticationFailed as exc:
                    log.error("reconnect: login refused (%s); will keep trying", exc.reason)
                    continue
                except RocketChatError as exc:
                    log.info("reconnect attempt %d failed: %s", attempt, exc.reason)
                    continue
                except Exception:
                    log.exception("reconnect attempt %d failed", attempt)
                    continue
                self.reconnects += 1
                log.info("realtime connection restored after %d attempt(s)", attempt)
                self._notify("on_connected", False)
                break

    def _notify(self, name: str, *args: Any) -> None:
        try:
            getattr(self.listener, name)(*args)
        except Exception:
            log.exception("listener.%s failed", name)

    # --- stream events --------------------------------------------------------------------
    def _on_changed(self, collection: str, event: str, args: list[Any]) -> None:
        try:
            if collection == "stream-room-messages":
                if not args:
                    return
                message = message_from_wire(args[0], args[1] if len(args) > 1 else None)
                self._notify("on_message", message)
            elif collection == "stream-notify-user":
                self._on_notify_user(event, args)
            elif collection == "stream-notify-logged" and event == "user-status":
                self._on_user_status(args)
        except (WireFormatError, TypeError, ValueError, KeyError, IndexError) as exc:
            log.warning("dropping an unusable %s/%s event: %s", collection, event, exc)

    def _on_notify_user(self, event: str, args: list[Any]) -> None:
        action = args[0] if args and isinstance(args[0], str) else ""
        data = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        if event.endswith("/subscriptions-changed"):
            rid = data.get("rid") if isinstance(data.get("rid"), str) else ""
            subscription: Subscription | None = None
            if action != "removed":
                subscription = subscription_from_wire(data)
                rid = subscription.rid
            self._notify("on_subscription", action, subscription, rid)
        elif event.endswith("/rooms-changed"):
            rid = data.get("_id")
            if isinstance(rid, str):
                with self._lock:
                    self._rooms.pop(rid, None)

    def _on_user_status(self, args: list[Any]) -> None:
        entry = args[0] if args and isinstance(args[0], list) else args
        if len(entry) < 3 or not isinstance(entry[0], str):
            raise ValueError("user-status without uid/username/status")
        status = entry[2]
        text = _STATUS.get(status, "offline") if isinstance(status, int) else str(status)
        self._notify("on_presence", entry[0], str(entry[1] or ""), text)

    # --- messages -------------------------------------------------------------------------
    def send(self, rid: str, text: str, *, tmid: str | None = None) -> Message | None:
        """Plain text over DDP (REST when the socket is down). Inside an effect scope the
        `_id` is derived from the event (`bot.chat.effect_scope`): sending it again after a
        crash or a takeover stores nothing new, and that counts as delivered."""
        message: dict[str, Any] = {"_id": _message_id(rid), "rid": rid, "msg": text}
        if tmid:
            message["tmid"] = tmid
        return self._send_retrying(message)

    def _send_retrying(self, message: dict[str, Any]) -> Message | None:
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._send_once(message)
            except RateLimited as exc:
                # A little margin: waking exactly at the reset can land in the old window.
                wait = min(exc.retry_after, 60.0) + 0.05
                if attempt >= _SEND_ATTEMPTS and waited + wait > RATE_LIMIT_BUDGET:
                    raise
                log.info("send rate limited, retrying in %.2fs", wait)
                time.sleep(wait)
                waited += wait

    def _send_once(self, message: dict[str, Any]) -> Message | None:
        ddp = self._ddp
        if ddp is not None and self.connected:
            try:
                result = ddp.call("sendMessage", message, timeout=self.call_timeout)
            except (ConnectionLost, CallTimeout) as exc:
                log.info("send over DDP failed (%s), using REST", exc.reason)
            else:
                # No result: RC stored nothing. With an `_id` that already exists that is the
                # duplicate refusal (current RC returns early; older RC swallows the duplicate
                # key error and says so in an ephemeral): the message is there, delivered.
                if isinstance(result, dict):
                    try:
                        return message_from_wire(result)
                    except WireFormatError:
                        return None
                return self._stored(message["_id"])  # None: refused, said ephemerally
        return self._rest_send(message)

    def _stored(self, msg_id: str) -> Message | None:
        """The message stored under `msg_id`, if the server can tell now (best effort)."""
        try:
            return self.rest.get_message(msg_id)
        except RocketChatError as exc:
            log.debug("cannot look up message %s: %s", msg_id, exc)
            return None

    def _rest_send(self, message: dict[str, Any]) -> Message:
        try:
            return self.rest.send_message(message)
        except RateLimited:
            raise
        except RocketChatError:
            # `chat.sendMessage` with an `_id` that exists fails (a 400: older RC's duplicate
            # key error, current RC's failure to normalise the nothing it stored); after a DDP
            # timeout or a replay the message is there already: delivered, once.
            existing = self.rest.get_message(message["_id"])
            if existing is not None:
                log.debug("message %s exists already: delivered once", message["_id"])
                return existing
            raise

    def post(
        self,
        rid: str,
        text: str,
        *,
        attachments: Sequence[Attachment] = (),
        alias: str | None = None,
        tmid: str | None = None,
    ) -> Message:
        """`chat.postMessage` takes no `_id`: inside an effect scope the same message goes
        through `chat.sendMessage` (which takes `alias` and `attachments` too) under the
        derived id, so a replay stores it once."""
        mid = effect_scope.next_message_id(rid)
        if mid is None:
            return self.rest.post_message(
                rid, text, attachments=attachments, alias=alias, tmid=tmid
            )
        message: dict[str, Any] = {"_id": mid, "rid": rid, "msg": text}
        if attachments:
            message["attachments"] = [attachment_to_wire(a) for a in attachments]
        if alias:
            message["alias"] = alias
        if tmid:
            message["tmid"] = tmid
        return self._rest_send(message)

    def update_message(self, rid: str, msg_id: str, text: str) -> Message:
        return self.rest.update_message(rid, msg_id, text)

    def delete_message(self, rid: str, msg_id: str) -> None:
        self.rest.delete_message(rid, msg_id)

    def get_message(self, msg_id: str) -> Message | None:
        return self.rest.get_message(msg_id)

    def history(
        self,
        rid: str,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        count: int = 100,
    ) -> list[Message]:
        room_type = self._room_type(rid)
        if room_type == "l":
            return self._livechat_history(rid, oldest=oldest, latest=latest, count=count)
        return self.rest.history(rid, room_type, oldest=oldest, latest=latest, count=count)

    def _livechat_history(
        self, rid: str, *, oldest: datetime | None, latest: datetime | None, count: int
    ) -> list[Message]:
        """A livechat room's history: `channels/groups.history` do not serve `l` rooms. DDP
        `loadHistory` pages back from `latest` and includes system messages (the catch-up
        needs `livechat-close`, the reconciler the bot's notes); without DDP,
        `livechat/:rid/messages` (user messages and `livechat-close` only)."""
        ddp = self._ddp
        if ddp is None or not self.connected:
            found = self.rest.livechat_messages(rid)
            return [
                m
                for m in found
                if (oldest is None or m.ts >= oldest) and (latest is None or m.ts <= latest)
            ]
        seen: dict[str, Message] = {}
        end: datetime | None = latest
        while True:
            answer = ddp.call(
                "loadHistory",
                rid,
                to_wire_date(end) if end is not None else None,
                max(1, count),
                None,
                timeout=self.call_timeout,
            )
            items = answer.get("messages") if isinstance(answer, dict) else None
            batch = []
            for item in items if isinstance(items, list) else []:
                try:
                    batch.append(message_from_wire(item, {"roomType": "l"}))
                except WireFormatError as exc:
                    log.warning("dropping an unusable history message: %s", exc)
            fresh = [m for m in batch if m.id not in seen]
            for message in fresh:
                seen[message.id] = message
            if not fresh:
                break
            earliest = min(m.ts for m in fresh)
            if (oldest is not None and earliest < oldest) or len(batch) < count:
                break
            end = earliest
        return sorted(
            (m for m in seen.values() if oldest is None or m.ts >= oldest), key=lambda m: m.ts
        )

    # --- direct messages ------------------------------------------------------------------
    def dm_room(self, username: str) -> str:
        with self._lock:
            rid = self._dm_rids.get(username)
        if rid is None:
            room = self.rest.dm_create(username)
            rid = room.id
            with self._lock:
                self._dm_rids[username] = rid
                self._rooms.setdefault(rid, room)
        return rid

    def dm(self, username: str, text: str, *, attachments: Sequence[Attachment] = ()) -> Message:
        return self.post(self.dm_room(username), text, attachments=attachments)

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
        return room

    def invite(self, rid: str, user_id: str) -> None:
        self.rest.invite(rid, user_id, self._room_type(rid))

    def kick(self, rid: str, user_id: str) -> None:
        self.rest.kick(rid, user_id, self._room_type(rid))

    def archive(self, rid: str) -> None:
        self.rest.archive(rid, self._room_type(rid))

    def unarchive(self, rid: str) -> None:
        self.rest.unarchive(rid, self._room_type(rid))

    def set_topic(self, rid: str, topic: str) -> None:
        self.rest.set_topic(rid, topic, self._room_type(rid))

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

    # --- files ----------------------------------------------------------------------------
    def upload(
        self, rid: str, data: bytes, filename: str, mime: str, *, message: str = ""
    ) -> Message:
        return self.rest.upload(rid, data, filename, mime, message=message)

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
            self._users[key] = (now + _USER_TTL, found)
            if found is not None:
                self._users[("username", found.username)] = (now + _USER_TTL, found)
                self._users[("id", found.id)] = (now + _USER_TTL, found)
        return found

    def presence(self, user_id: str) -> str:
        return self.rest.presence(user_id)
