"""The client's connection: log in over REST and DDP and subscribe to the bot's streams; then a
supervisor thread watches the socket and, on any drop, reconnects with exponential back-off and
jitter, logs in again, subscribes again and tells the listener `on_connected(first=False)` so the
app can catch up from history. Stream frames are parsed once, here; a frame that does not parse
is logged and dropped.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, Self

from bot.chat.errors import (
    AuthenticationFailed,
    RocketChatError,
)
from bot.chat.types import (
    Message,
    Room,
    Subscription,
    User,
)
from bot.domain.bounded import BoundedCache
from bot.rocketchat.ddp import DDPClient
from bot.rocketchat.in_flight import InFlight
from bot.rocketchat.raw_frames import OWN, SUBSCRIPTION, known_frame
from bot.rocketchat.rest import RestClient
from bot.rocketchat.wire import (
    WireFormatError,
    message_from_wire,
    subscription_from_wire,
)

log = logging.getLogger(__name__)

_ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"  # Meteor's Random.id
_STATUS = {0: "offline", 1: "online", 2: "away", 3: "busy"}

#: seconds a user looked up stays cached
USER_TTL = 60.0
#: entries per transport cache (DM rooms, rooms, users): a flood of new users cannot grow them
CACHE_SIZE = 10_000
#: seconds a send or REST call keeps waiting out rate limits before it gives up: a reply
#: must not be lost because eight workers compete for a few messages per second
RATE_LIMIT_BUDGET = 120.0
#: ids of the bot's latest messages kept, to know their echo on the stream undecoded
SENT_IDS_KEPT = 4096


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


class Listener(Protocol):
    """A listener may also set `ignores_own_messages = True`: the bot's own messages (every
    reply, echoed on `__my_messages__`) are then dropped by the transport, never parsed. And
    `ignores_subscription_updates = True`: the "updated" subscription changes (one per message
    in each of the bot's rooms) are dropped too; insertions and removals still come."""

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


class Connection:
    """The REST client, the DDP socket and its supervisor, and the stream frames turned into
    listener calls; the chat-port calls build on it."""

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
        #: the listener has no use for the bot's own messages (`ignores_own_messages`): drop
        #: them here, unparsed
        self._skip_own = bool(getattr(listener, "ignores_own_messages", False))
        self._skip_updates = bool(getattr(listener, "ignores_subscription_updates", False))
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
        #: per room the send not waited for (`send_soon`), until settled
        self._in_flight = InFlight()
        self._rooms: BoundedCache[str, Room] = BoundedCache(CACHE_SIZE)
        self._users: BoundedCache[tuple[str, str], tuple[float, User | None]] = BoundedCache(
            CACHE_SIZE, ttl=USER_TTL
        )
        #: the ids of the messages the bot sent last: their echo on `__my_messages__` is
        #: dropped before decoding (`_on_raw`)
        self._sent_ids: BoundedCache[str, bool] = BoundedCache(SENT_IDS_KEPT)

    @classmethod
    def from_settings(cls, server: Any, listener: Listener, **kwargs: Any) -> Self:
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

    @contextmanager
    def socket_down(self) -> Iterator[None]:
        """Act as if the socket were down while inside: calls take their REST path (checks of
        the fallback against a live server)."""
        was, self._connected = self._connected, False
        try:
            yield
        finally:
            self._connected = was

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
            on_raw=self._on_raw,
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
                if not args or (self._skip_own and self._is_own_wire(args[0])):
                    return
                message = message_from_wire(args[0], args[1] if len(args) > 1 else None)
                self._notify("on_message", message)
            elif collection == "stream-notify-user":
                self._on_notify_user(event, args)
            elif collection == "stream-notify-logged" and event == "user-status":
                self._on_user_status(args)
        except (WireFormatError, TypeError, ValueError, KeyError, IndexError) as exc:
            log.warning("dropping an unusable %s/%s event: %s", collection, event, exc)

    def note_sent(self, msg_id: str) -> None:
        """The bot is sending a message under `msg_id`: its echo is the bot's own."""
        self._sent_ids[msg_id] = True

    def _on_raw(self, raw: bytes) -> bool:
        """Deal with a frame from its bytes, where that is all it takes (`raw_frames`): the
        echo of a message the bot sent (ignored, when the listener ignores its own), a
        subscription update (ignored, when the listener ignores them) and a room change (the
        room's cached copy dropped). True: dealt with, not to be decoded."""
        known = known_frame(raw)
        if known is None:
            return False
        kind, value = known
        if kind == OWN:
            return self._skip_own and value in self._sent_ids
        if kind == SUBSCRIPTION:
            return self._skip_updates
        with self._lock:
            self._rooms.pop(value, None)
        return True

    def _is_own_wire(self, raw: Any) -> bool:
        """Whether a stream message is the bot's own (by `u._id`, before any parsing): every
        reply comes back on `__my_messages__`, and a listener that ignores them (the app) is
        spared building a `Message` per reply on this, the one reader thread."""
        me = self.bot_user.id
        author = raw.get("u") if isinstance(raw, dict) else None
        return bool(me) and isinstance(author, dict) and author.get("_id") == me

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
