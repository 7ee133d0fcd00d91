"""The socket side of a DDP session: the reader loop that parses frames and hands results,
subscriptions and stream changes to their waiters, the keepalive pings, and the one close."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import websocket

try:
    import orjson
except ImportError:  # a venv made before it was a dependency: the stdlib does the same, slower
    orjson = None  # type: ignore[assignment]

from bot.chat.errors import (
    ConnectionLost,
    ServerError,
)
from bot.rocketchat.meteor_errors import map_meteor_error

log = logging.getLogger("bot.rocketchat.ddp")

# (collection, eventName, args) of a `changed` stream frame.
ChangedHandler = Callable[[str, str, list[Any]], None]
CloseHandler = Callable[[str], None]
# A frame's bytes before decoding: True when the owner has dealt with it (it is not decoded).
RawHandler = Callable[[bytes], bool]


class BufferedWebSocket(websocket.WebSocket):
    """websocket-client's frame parser asks the socket for a frame in three reads (header,
    length, payload), each a system call: two thirds of the reader's system calls, seven
    frames per command. This one takes what the socket holds (up to `CHUNK` bytes) in one read
    and serves the parser from it (and `recv_message` slices whole text frames out itself).
    Errors and the close are websocket-client's own (`_recv` of the base class reads)."""

    CHUNK = 65536
    #: frames served from the buffer between two hand-overs of the GIL (see `recv_message`)
    YIELD_EVERY = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inbox = b""  # read from the socket, not yet handed to the parser
        self._taken = 0  # how much of `_inbox` the parser has had
        self._served = 0  # frames served from `_inbox` since the last socket read

    def _recv(self, bufsize: int) -> bytes:
        data, start = self._inbox, self._taken
        if start >= len(data):
            data, start = super()._recv(max(bufsize, self.CHUNK)), 0
            self._inbox = data
        end = min(start + bufsize, len(data))
        self._taken = end
        return data if start == 0 and end == len(data) else data[start:end]

    def recv_message(self) -> str | bytes:
        """The next data message. A whole, unfragmented, unmasked text frame waiting in the
        buffer (what a DDP server sends) is sliced out here, as UTF-8 bytes for the JSON
        decoder: websocket-client's parser costs about as much as the decoding. Anything else
        (a partial frame, a control frame, a fragment, binary) takes `recv()`."""
        data, start = self._inbox, self._taken
        if start >= len(data):  # nothing waiting: block for what the socket brings next
            data, start = self._inbox, self._taken = super()._recv(self.CHUNK), 0
            self._served = 0
        else:
            # Let the room workers have the interpreter now and then while frames wait here,
            # as the socket read per frame used to: under a backlog the reader would otherwise
            # keep the GIL for whole switch intervals, and each worker, waiting for it after
            # every send and SQL statement, would answer a command per few dozen milliseconds.
            # Not after every frame: the few frames a command brings at once (its room and
            # subscription changes, a result) would each hand the GIL over, a third of the
            # reader's thread switches.
            self._served += 1
            if self._served % self.YIELD_EVERY == 0:
                time.sleep(0)
        available = len(data) - start
        if available >= 2 and data[start] == 0x81 and data[start + 1] < 0x80:
            size, head = data[start + 1], 2
            if size == 126:
                size, head = int.from_bytes(data[start + 2 : start + 4], "big"), 4
            elif size == 127:
                size, head = int.from_bytes(data[start + 2 : start + 10], "big"), 10
            if head <= available and head + size <= available:
                self._taken = start + head + size
                return data[start + head : start + head + size]
        return self.recv()

    def send_text(self, text_data: str | bytes) -> int:  # type: ignore[override]
        """One whole text frame, masked as a client's must be (RFC 6455, 5.3), in one
        `sendall`. websocket-client's `send` builds a frame object, checks it, masks through an
        array and sends in a loop: ~31 µs for a 2.5 KB answer where the `sendall` is ~3 µs."""
        payload = text_data.encode() if isinstance(text_data, str) else text_data
        size = len(payload)
        if size < 126:
            head = bytes((0x81, 0x80 | size))
        elif size < 65536:
            head = b"\x81\xfe" + size.to_bytes(2, "big")
        else:
            head = b"\x81\xff" + size.to_bytes(8, "big")
        key = os.urandom(4)
        with self.lock:
            sock = self.sock
            if sock is None:
                raise websocket.WebSocketConnectionClosedException("socket is already closed.")
            sock.sendall(head + key + mask(key, payload))
        return size


def mask(key: bytes, payload: bytes) -> bytes:
    """`payload` XOR the 4-byte `key` repeated (a WebSocket frame's masking), as one big-number
    XOR: a few microseconds for an answer of some kilobytes, a byte loop's fraction."""
    size = len(payload)
    if size == 0:
        return b""
    keys = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(keys, "little")).to_bytes(
        size, "little"
    )


def encode_frame(frame: dict[str, Any]) -> str | bytes:
    """A frame as compact JSON. orjson (UTF-8 bytes, sent as a text frame as they are) takes
    a fifth of the stdlib's time; what it refuses (a lone surrogate, an int beyond 64 bits)
    the stdlib still writes."""
    if orjson is not None:
        try:
            return orjson.dumps(frame)
        except TypeError:  # orjson.JSONEncodeError
            pass
    return json.dumps(frame, separators=(",", ":"))


def decode_frame(raw: str | bytes) -> Any:
    """A frame's JSON. Decoding is the reader thread's largest single cost (every reply comes
    back on the bot's stream, and the server announces each message's room and subscription
    change): orjson does it in a third of the stdlib's time. What orjson refuses but the
    stdlib reads (a lone surrogate escape, which JavaScript servers may emit) falls back."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except ValueError:  # orjson.JSONDecodeError
            pass
    return json.loads(raw)


#: how a method's `updated` frame starts as servers write it (the decoded frame is ignored anyway)
_UPDATED = (b'{"msg":"updated"', '{"msg":"updated"')
#: a method's object result as servers write it (`result` right after `id`, so no `error`)
_RESULT_OBJECT = re.compile(rb'\{"msg":"result","id":"([^"\\]{1,32})","result":\{')


class DDPSocket:
    """Frames in and out of one WebSocket; the base of `DDPClient`, which holds the state."""

    if TYPE_CHECKING:
        ws_url: str
        on_changed: ChangedHandler | None
        on_raw: RawHandler | None
        on_close: CloseHandler | None
        ping_interval: float
        ping_timeout: float
        session: str | None
        _ws: websocket.WebSocket | None
        _ids: itertools.count[int]
        _send_lock: threading.Lock
        _state_lock: threading.Lock
        _pending: dict[str, tuple[Future[Any], str]]
        _brief: set[str]
        _subs: dict[str, Future[None]]
        _connected: Future[str]
        _closed: threading.Event
        _close_reason: str
        _pongs: dict[str, threading.Event]
        _reader: threading.Thread | None
        _pinger: threading.Thread | None

    def _send(self, frame: dict[str, Any], *, lock_timeout: float = -1) -> None:
        ws = self._ws
        if ws is None or self._closed.is_set():
            raise ConnectionLost(f"not connected ({self._close_reason or 'never opened'})")
        data = encode_frame(frame)
        # A send into a dead peer's full buffer blocks while holding the lock; the pinger
        # gives up waiting for it and aborts the socket, which also unblocks that send.
        if not self._send_lock.acquire(timeout=lock_timeout):
            self._abort("send stalled")
            raise ConnectionLost("send stalled")
        try:
            ws.send_text(data)
        except (OSError, websocket.WebSocketException) as exc:
            self._abort(f"send failed: {exc}")
            raise ConnectionLost(f"send failed: {exc}") from exc
        finally:
            self._send_lock.release()

    def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        reason = "socket closed by server"
        recv = getattr(ws, "recv_message", ws.recv)
        try:
            while not self._closed.is_set():
                try:
                    raw = recv()
                except websocket.WebSocketConnectionClosedException:
                    break
                except (OSError, websocket.WebSocketException, UnicodeDecodeError) as exc:
                    reason = f"socket error: {exc}"
                    break
                if not raw:
                    if not ws.connected:
                        break
                    continue
                self._handle_raw(raw)
        finally:
            self._finish(self._close_reason or reason)

    def _handle_raw(self, raw: str | bytes) -> None:
        head = raw[:16]
        if head in _UPDATED:
            return  # a method's "updated" (one per command's reply): ignored, so not decoded
        if head == b'{"msg":"result",' and self._brief and self._answer_brief(bytes(raw)):
            return
        on_raw = self.on_raw
        if on_raw is not None and isinstance(raw, bytes):
            try:
                if on_raw(raw):
                    return
            except Exception:  # then decoded as any frame
                log.exception("ddp: error while looking at a frame's bytes")
        try:
            frame = decode_frame(raw)
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

    def _answer_brief(self, raw: bytes) -> bool:
        """Answer a `call_soon(brief=True)` whose result is an object, from the frame's bytes
        (`{}`); False: not such a frame, to be decoded."""
        found = _RESULT_OBJECT.match(raw)
        if found is None:
            return False
        call_id = found.group(1).decode("ascii", "replace")
        with self._state_lock:
            entry = self._pending.get(call_id) if call_id in self._brief else None
        if entry is None:
            return False
        if not entry[0].done():
            entry[0].set_result({})
        return True

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
