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
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import websocket

from bot.chat.errors import (
    AuthenticationFailed,
    CallTimeout,
    ConnectionLost,
    NotAllowed,
    NotFound,
    RateLimited,
    RocketChatError,
    ServerError,
)

log = logging.getLogger(__name__)

# (collection, eventName, args) of a `changed` stream frame.
ChangedHandler = Callable[[str, str, list[Any]], None]
CloseHandler = Callable[[str], None]

_NOT_FOUND_ERRORS = {"error-room-not-found", "error-invalid-room", "error-message-not-found"}
_NOT_ALLOWED_ERRORS = {"error-not-allowed", "not-allowed", "error-action-not-allowed"}


@dataclass(frozen=True, slots=True)
class LoginResult:
    user_id: str
    token: str


def map_meteor_error(error: Any, *, login: bool = False) -> RocketChatError:
    """A serialized Meteor.Error (a `result.error` or `nosub.error`) as a typed exception."""
    if not isinstance(error, dict):
        return ServerError(str(error))
    code = error.get("error")
    reason = str(error.get("reason") or error.get("message") or code or "unknown error")
    details = error.get("details")
    kw: dict[str, Any] = {"error": code, "details": details}
    # DDP v1 lets `error` be a number or a string; compare both spellings.
    code_text = str(code)
    if code_text == "too-many-requests":
        ms = details.get("timeToReset") if isinstance(details, dict) else None
        retry = ms / 1000 if isinstance(ms, int | float) and not isinstance(ms, bool) else 1.0
        return RateLimited(reason, retry_after=max(0.0, retry), **kw)
    if login and code_text in {"401", "403"}:
        return AuthenticationFailed(reason, **kw)
    if code_text in {"401"}:
        return AuthenticationFailed(reason, **kw)
    if code_text == "403" or code_text in _NOT_ALLOWED_ERRORS:
        return NotAllowed(reason, **kw)
    if code_text == "404" or code_text in _NOT_FOUND_ERRORS:
        return NotFound(reason, **kw)
    return ServerError(reason, **kw)


def password_digest(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


class DDPClient:
    """One DDP session over one WebSocket. Not reusable: after a close, make a new one."""

    def __init__(
        self,
        ws_url: str,
        *,
        on_changed: ChangedHandler | None = None,
        on_close: CloseHandler | None = None,
        ping_interval: float = 15.0,
        ping_timeout: float | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.ws_url = ws_url
        self.on_changed = on_changed
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
            # the bot's CPU under load; `recv()` decodes text frames in C anyway, so a bad
            # frame still fails (UnicodeDecodeError, below), only faster.
            ws = websocket.create_connection(
                self.ws_url,
                timeout=self.connect_timeout,
                enable_multithread=True,
                skip_utf8_validation=True,
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

    def _call(self, method: str, params: list[Any], timeout: float, *, login: bool = False) -> Any:
        call_id = str(next(self._ids))
        future: Future[Any] = Future()
        with self._state_lock:
            if self._closed.is_set():
                raise ConnectionLost(f"not connected ({self._close_reason})")
            self._pending[call_id] = (future, "login" if login else method)
        try:
            self._send({"msg": "method", "id": call_id, "method": method, "params": params})
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise CallTimeout(f"{method}: no answer within {timeout:g}s") from None
        finally:
            with self._state_lock:
                self._pending.pop(call_id, None)

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

    # --- internals ------------------------------------------------------------------------
    def _send(self, frame: dict[str, Any], *, lock_timeout: float = -1) -> None:
        ws = self._ws
        if ws is None or self._closed.is_set():
            raise ConnectionLost(f"not connected ({self._close_reason or 'never opened'})")
        data = json.dumps(frame, separators=(",", ":"))
        # A send into a dead peer's full buffer blocks while holding the lock; the pinger
        # gives up waiting for it and aborts the socket, which also unblocks that send.
        if not self._send_lock.acquire(timeout=lock_timeout):
            self._abort("send stalled")
            raise ConnectionLost("send stalled")
        try:
            ws.send(data)
        except (OSError, websocket.WebSocketException) as exc:
            self._abort(f"send failed: {exc}")
            raise ConnectionLost(f"send failed: {exc}") from exc
        finally:
            self._send_lock.release()

    def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        reason = "socket closed by server"
        try:
            while not self._closed.is_set():
                try:
                    raw = ws.recv()
                except websocket.WebSocketConnectionClosedException:
                    break
                except (OSError, websocket.WebSocketException, UnicodeDecodeError) as exc:
                    reason = f"socket error: {exc}"
                    break
                if raw is None or raw == "":
                    if not ws.connected:
                        break
                    continue
                self._handle_raw(raw)
        finally:
            self._finish(self._close_reason or reason)

    def _handle_raw(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            log.warning("ddp: dropping a frame that is not JSON (%d bytes)", len(raw))
            return
        # ddp-streamer may wrap frames SockJS-style in a one-element array.
        if isinstance(frame, list) and frame and isinstance(frame[0], dict):
            frame = frame[0]
        if not isinstance(frame, dict):
            log.warning("ddp: dropping a frame that is not an object")
            return
        try:
            self._dispatch(frame)
        except Exception:  # a bad frame must never kill the reader
            log.exception("ddp: error while handling a %r frame", frame.get("msg"))

    def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame.get("msg")
        if kind is None:
            return  # the `{"server_id":"0"}` greeting and anything else without a type
        if kind == "ping":
            pong: dict[str, Any] = {"msg": "pong"}
            if "id" in frame:
                pong["id"] = frame["id"]
            try:
                self._send(pong)
            except ConnectionLost:
                pass
        elif kind == "pong":
            event = self._pongs.get(str(frame.get("id")))
            if event is not None:
                event.set()
        elif kind == "connected":
            if not self._connected.done():
                self._connected.set_result(str(frame.get("session") or ""))
        elif kind == "failed":
            if not self._connected.done():
                self._connected.set_exception(
                    ConnectionLost(f"server refused DDP version (wants {frame.get('version')})")
                )
        elif kind == "result":
            self._on_result(frame)
        elif kind == "ready":
            for sub_id in frame.get("subs") or []:
                with self._state_lock:
                    future = self._subs.get(str(sub_id))
                if future is not None and not future.done():
                    future.set_result(None)
        elif kind == "nosub":
            with self._state_lock:
                future = self._subs.pop(str(frame.get("id")), None)
            error = frame.get("error")
            if future is not None and not future.done():
                future.set_exception(
                    map_meteor_error(error) if error else ServerError("subscription ended")
                )
            elif error:
                log.warning("ddp: subscription %s ended: %s", frame.get("id"), error)
        elif kind == "changed":
            self._on_changed(frame)
        elif kind == "error":
            log.warning("ddp: server reported a protocol error: %s", frame.get("reason"))
        # added/removed/updated and unknown types are ignored, as DDP requires.

    def _on_result(self, frame: dict[str, Any]) -> None:
        with self._state_lock:
            entry = self._pending.get(str(frame.get("id")))
        if entry is None:
            return
        future, method = entry
        if future.done():
            return
        if "error" in frame and frame["error"] is not None:
            future.set_exception(map_meteor_error(frame["error"], login=method == "login"))
        else:
            future.set_result(frame.get("result"))

    def _on_changed(self, frame: dict[str, Any]) -> None:
        if self.on_changed is None:
            return
        fields = frame.get("fields")
        if not isinstance(fields, dict):
            return
        args = fields.get("args")
        self.on_changed(
            str(frame.get("collection") or ""),
            str(fields.get("eventName") or ""),
            args if isinstance(args, list) else [],
        )

    def _ping_loop(self) -> None:
        counter = itertools.count(1)
        while not self._closed.wait(self.ping_interval):
            ping_id = f"ka{next(counter)}"
            event = threading.Event()
            self._pongs[ping_id] = event
            try:
                self._send({"msg": "ping", "id": ping_id}, lock_timeout=self.ping_timeout)
            except ConnectionLost:
                return
            answered = event.wait(self.ping_timeout)
            self._pongs.pop(ping_id, None)
            if not answered and not self._closed.is_set():
                log.warning("ddp: no pong within %.1fs, closing the socket", self.ping_timeout)
                self._abort("no pong from server")
                return

    def _abort(self, reason: str) -> None:
        """Wake the reader (if any) by shutting the socket; it then finishes the close."""
        with self._state_lock:
            if not self._close_reason:
                self._close_reason = reason
        ws = self._ws
        if ws is None:
            self._finish(reason)
            return
        # A polite close frame, unless a stalled send holds the lock (then just cut the socket).
        if ws.connected and reason == "closed by client" and self._send_lock.acquire(timeout=1):
            try:
                ws.send_close()
            except (OSError, websocket.WebSocketException):
                pass
            finally:
                self._send_lock.release()
        try:
            ws.abort()
        except (OSError, websocket.WebSocketException):
            pass
        if self._reader is None or not self._reader.is_alive():
            self._finish(reason)

    def _finish(self, reason: str) -> None:
        with self._state_lock:
            if self._closed.is_set():
                return
            self._closed.set()
            if not self._close_reason:
                self._close_reason = reason
            pending = list(self._pending.values())
            self._pending.clear()
            subs = list(self._subs.values())
            self._subs.clear()
        lost = ConnectionLost(f"connection lost: {self._close_reason}")
        for future, _ in pending:
            if not future.done():
                future.set_exception(lost)
        for sub in subs:
            if not sub.done():
                sub.set_exception(lost)
        if not self._connected.done():
            self._connected.set_exception(lost)
        ws = self._ws
        if ws is not None:
            try:
                ws.shutdown()
            except (OSError, websocket.WebSocketException):
                pass
        if self.on_close is not None:
            try:
                self.on_close(self._close_reason)
            except Exception:
                log.exception("ddp: on_close callback failed")
