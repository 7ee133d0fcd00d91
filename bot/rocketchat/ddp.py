"""A small blocking DDP client (Rocket.Chat's Realtime API) on `websocket-client`.

One reader thread owns `recv()`; any thread may `call()` or `subscribe()` (sends are serialised by
a lock). Replies are matched to callers through futures keyed by string ids. A keepalive thread
pings the server and aborts the socket when no pong comes back, so a half-dead TCP connection is
noticed even when the server is silent. When the socket closes for any reason, every pending call
fails with `ConnectionLost` and `on_close(reason)` is called exactly once.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial
from typing import Any

import websocket

from bot.chat.errors import (
    AuthenticationFailed,
    CallTimeout,
    ConnectionLost,
    NotAllowed,
    NotFound,
    RocketChatError,
)
from bot.rocketchat.ddp_socket import (
    BufferedWebSocket,
    ChangedHandler,
    CloseHandler,
    DDPSocket,
    RawHandler,
)
from bot.rocketchat.meteor_errors import map_meteor_error

__all__ = ["DDPClient", "LoginResult", "map_meteor_error", "password_digest"]


@dataclass(frozen=True, slots=True)
class LoginResult:
    user_id: str
    token: str


def password_digest(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


class DDPClient(DDPSocket):
    """One DDP session over one WebSocket. Not reusable: after a close, make a new one."""

    def __init__(
        self,
        ws_url: str,
        *,
        on_changed: ChangedHandler | None = None,
        on_raw: RawHandler | None = None,
        on_close: CloseHandler | None = None,
        ping_interval: float = 15.0,
        ping_timeout: float | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.ws_url = ws_url
        self.on_changed = on_changed
        self.on_raw = on_raw
        self.on_close = on_close
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout if ping_timeout is not None else ping_interval
        self.connect_timeout = connect_timeout
        self.session: str | None = None
        self._ws: websocket.WebSocket | None = None
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._pending: dict[str, tuple[Future[Any], str]] = {}
        self._brief: set[str] = set()  # calls whose object result is not read (`call_soon`)
        self._subs: dict[str, Future[None]] = {}
        self._connected: Future[str] = Future()
        self._closed = threading.Event()
        self._close_reason = ""
        self._pongs: dict[str, threading.Event] = {}
        self._reader: threading.Thread | None = None
        self._pinger: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._closed.is_set() and self._connected.done()

    def connect(self) -> str:
        """Open the socket, send `connect` v1 and wait for `connected`. Returns the session id."""
        try:
            # skip_utf8_validation: websocket-client checks UTF-8 in pure Python, a quarter of
            # the bot's CPU under load; the JSON decoder reads the frames' UTF-8 anyway, so a
            # bad frame is still refused (and dropped, see `DDPSocket._handle_raw`).
            ws = websocket.create_connection(
                self.ws_url,
                timeout=self.connect_timeout,
                enable_multithread=True,
                skip_utf8_validation=True,
                class_=BufferedWebSocket,
            )
        except (OSError, websocket.WebSocketException) as exc:
            raise ConnectionLost(f"cannot open {self.ws_url}: {exc}") from exc
        ws.settimeout(None)  # the reader blocks; liveness is the pinger's job
        self._ws = ws
        self._reader = threading.Thread(target=self._read_loop, name="ddp-reader", daemon=True)
        self._reader.start()
        self._send({"msg": "connect", "version": "1", "support": ["1"]})
        try:
            self.session = self._connected.result(timeout=self.connect_timeout)
        except FutureTimeout:
            self._abort("no `connected` from server")
            raise ConnectionLost("server did not answer `connect`") from None
        except RocketChatError:
            self._abort("connect refused")
            raise
        if self.ping_interval > 0:
            self._pinger = threading.Thread(target=self._ping_loop, name="ddp-ping", daemon=True)
            self._pinger.start()
        return self.session

    def close(self) -> None:
        """Close cleanly (idempotent)."""
        self._abort("closed by client")
        if self._reader and self._reader is not threading.current_thread():
            self._reader.join(timeout=5)

    # --- login ----------------------------------------------------------------------------
    def login_password(self, username: str, password: str, *, timeout: float = 30.0) -> LoginResult:
        user = {"email": username} if "@" in username else {"username": username}
        params = {
            "user": user,
            "password": {"digest": password_digest(password), "algorithm": "sha-256"},
        }
        return self._login(params, timeout)

    def login_token(self, token: str, *, timeout: float = 30.0) -> LoginResult:
        """Resume login; a personal access token works as a resume token."""
        return self._login({"resume": token}, timeout)

    def _login(self, params: dict[str, Any], timeout: float) -> LoginResult:
        try:
            result = self._call("login", [params], timeout, login=True)
        except (NotAllowed, NotFound) as exc:
            raise AuthenticationFailed(exc.reason, error=exc.error) from exc
        if not isinstance(result, dict) or not isinstance(result.get("id"), str):
            raise AuthenticationFailed("login answered without a user id")
        return LoginResult(user_id=result["id"], token=str(result.get("token") or ""))

    # --- methods and subscriptions --------------------------------------------------------
    def call(self, method: str, *params: Any, timeout: float = 30.0) -> Any:
        """Call a server method; returns its `result` (None when the server omits it)."""
        return self._call(method, list(params), timeout)

    def call_soon(self, method: str, *params: Any, brief: bool = False) -> Callable[[float], Any]:
        """Call a server method without waiting: `answer(timeout)` waits for its `result` (or
        raises what `call` would). Each call must be answered once: that forgets it.

        `brief`: the caller reads only whether the call succeeded and whether its result is an
        object. Such a result answers as `{}`, known from its frame's first bytes and never
        decoded: a sent message comes back whole (its markdown tree too), the largest frame
        the reader decodes per command."""
        call_id, future = self._issue(method, list(params), login=False, brief=brief)
        return partial(self._answer, call_id, future, method)

    def _call(self, method: str, params: list[Any], timeout: float, *, login: bool = False) -> Any:
        call_id, future = self._issue(method, params, login=login)
        return self._answer(call_id, future, method, timeout)

    def _issue(
        self, method: str, params: list[Any], *, login: bool, brief: bool = False
    ) -> tuple[str, Future[Any]]:
        call_id = str(next(self._ids))
        future: Future[Any] = Future()
        with self._state_lock:
            if self._closed.is_set():
                raise ConnectionLost(f"not connected ({self._close_reason})")
            self._pending[call_id] = (future, "login" if login else method)
            if brief:
                self._brief.add(call_id)
        try:
            self._send({"msg": "method", "id": call_id, "method": method, "params": params})
        except BaseException:
            with self._state_lock:
                self._pending.pop(call_id, None)
                self._brief.discard(call_id)
            raise
        return call_id, future

    def _answer(self, call_id: str, future: Future[Any], method: str, timeout: float) -> Any:
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise CallTimeout(f"{method}: no answer within {timeout:g}s") from None
        finally:
            with self._state_lock:
                self._pending.pop(call_id, None)
                self._brief.discard(call_id)

    def subscribe(self, name: str, params: list[Any], *, timeout: float = 30.0) -> str:
        """Subscribe and wait for `ready`; a refusal (`nosub` with error) raises."""
        sub_id = str(next(self._ids))
        future: Future[None] = Future()
        with self._state_lock:
            if self._closed.is_set():
                raise ConnectionLost(f"not connected ({self._close_reason})")
            self._subs[sub_id] = future
        try:
            self._send({"msg": "sub", "id": sub_id, "name": name, "params": params})
            future.result(timeout=timeout)
        except FutureTimeout:
            with self._state_lock:
                self._subs.pop(sub_id, None)
            raise CallTimeout(f"subscription {name}: no `ready` within {timeout:g}s") from None
        except RocketChatError:
            with self._state_lock:
                self._subs.pop(sub_id, None)
            raise
        return sub_id

    def unsubscribe(self, sub_id: str) -> None:
        with self._state_lock:
            self._subs.pop(sub_id, None)
        self._send({"msg": "unsub", "id": sub_id})
