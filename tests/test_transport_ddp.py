"""DDPClient against a tiny scripted DDP server (aiohttp, real sockets on loopback).

The dev server covers the happy path end to end; this double lets each test misbehave on purpose
(garbage frames, silent pongs, Meteor errors) in ways a faithful server never would.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from websocket import ABNF

from bot.chat.errors import (
    AuthenticationFailed,
    CallTimeout,
    ConnectionLost,
    NotAllowed,
    NotFound,
    RateLimited,
    ServerError,
)
from bot.rocketchat.ddp import DDPClient, password_digest
from bot.rocketchat.ddp_socket import mask


class ScriptedServer:
    def __init__(self) -> None:
        self.answer_pings = True
        # method name -> fn(id, params) -> frames; lets other test files script answers.
        self.handlers: dict[str, Callable[[str, list[Any]], list[Any]]] = {}
        self.received: list[dict[str, Any]] = []
        self.sockets: list[web.WebSocketResponse] = []
        self.loop = asyncio.new_event_loop()
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ScriptedServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/websocket", self._handle)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/websocket"
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        async def shutdown() -> None:
            for ws in list(self.sockets):
                await ws.close()
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    def run(self, fn: Callable[[], Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(10)

    def kill_all(self) -> None:
        async def kill() -> None:
            for ws in list(self.sockets):
                await ws.close()

        self.run(kill)

    def push(self, raw: str) -> None:
        async def send() -> None:
            for ws in list(self.sockets):
                await ws.send_str(raw)

        self.run(send)

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_str('{"server_id":"0"}')
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            self.received.append(frame)
            for reply in self._answer(frame):
                await ws.send_str(reply if isinstance(reply, str) else json.dumps(reply))
        self.sockets.remove(ws)
        return ws

    def _answer(self, f: dict[str, Any]) -> list[Any]:
        kind = f.get("msg")
        if kind == "connect":
            return [{"msg": "connected", "session": "S1"}]
        if kind == "ping":
            if not self.answer_pings:
                return []
            return [{"msg": "pong", **({"id": f["id"]} if "id" in f else {})}]
        if kind == "sub":
            if f["name"] == "refused":
                err = {"error": "not-allowed", "reason": "Not allowed", "errorType": "Meteor.Error"}
                return [{"msg": "nosub", "id": f["id"], "error": err}]
            return [{"msg": "ready", "subs": [f["id"]]}]
        if kind != "method":
            return []
        mid, method, params = f["id"], f["method"], f.get("params", [])
        if method in self.handlers:
            return self.handlers[method](mid, params)
        if method == "login":
            p = params[0]
            ok = p.get("resume") == "good-token" or (
                p.get("password", {}).get("digest") == password_digest("pw")
            )
            if not ok:
                err = {"error": 403, "reason": "Incorrect password", "errorType": "Meteor.Error"}
                return [{"msg": "result", "id": mid, "error": err}]
            return [{"msg": "result", "id": mid, "result": {"id": "U1", "token": "T1"}}]
        if method == "echo":
            return [
                {"msg": "updated", "methods": [mid]},
                {"msg": "result", "id": mid, "result": params},
            ]
        if method == "nothing":
            return [{"msg": "result", "id": mid}]
        if method == "error":
            return [{"msg": "result", "id": mid, "error": params[0]}]
        if method == "silent":
            return []
        if method == "garbage":
            changed = {
                "msg": "changed",
                "collection": "stream-room-messages",
                "id": "id",
                "fields": {"eventName": "__my_messages__", "args": [{"x": 1}]},
            }
            return [
                "this is not json",
                "[]",
                "42",
                '{"msg":"changed","fields":"nope"}',
                '{"msg":"result","id":null}',
                {"msg": "ping", "id": "srv-1"},
                changed,
                {"msg": "result", "id": mid, "result": "still alive"},
            ]
        return [{"msg": "result", "id": mid, "error": {"error": 404, "reason": "not found"}}]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_connect_login_and_calls(server: ScriptedServer) -> None:
    ddp = DDPClient(server.url, ping_interval=0)
    assert ddp.connect() == "S1"
    assert server.received[0] == {"msg": "connect", "version": "1", "support": ["1"]}
    login = ddp.login_password("bot", "pw")
    assert (login.user_id, login.token) == ("U1", "T1")
    sent = server.received[-1]["params"][0]
    assert sent["password"] == {"digest": password_digest("pw"), "algorithm": "sha-256"}
    assert sent["user"] == {"username": "bot"}
    assert ddp.call("echo", 1, "two", {"three": 3}) == [1, "two", {"three": 3}]
    assert ddp.call("nothing") is None
    assert isinstance(server.received[-1]["id"], str)
    ddp.close()


def test_resume_login_and_refusal(server: ScriptedServer) -> None:
    ddp = DDPClient(server.url, ping_interval=0)
    ddp.connect()
    assert ddp.login_token("good-token").user_id == "U1"
    with pytest.raises(AuthenticationFailed):
        ddp.login_token("revoked")
    with pytest.raises(AuthenticationFailed):
        ddp.login_password("bot", "wrong")
    ddp.close()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {"error": "too-many-requests", "reason": "slow", "details": {"timeToReset": 2710}},
            RateLimited,
        ),
        ({"error": 403, "reason": "Forbidden"}, NotAllowed),
        ({"error": "error-not-allowed", "reason": "Not allowed"}, NotAllowed),
        ({"error": 404, "reason": "Method 'x' not found"}, NotFound),
        ({"error": 400, "reason": "Match failed"}, ServerError),
        ({"error": "error-invalid-user", "reason": "Invalid user"}, ServerError),
    ],
)
def test_meteor_errors_are_typed(
    server: ScriptedServer, error: dict[str, Any], expected: type
) -> None:
    ddp = DDPClient(server.url, ping_interval=0)
    ddp.connect()
    with pytest.raises(expected) as info:
        ddp.call("error", error)
    assert info.value.reason == error["reason"]
    if expected is RateLimited:
        assert info.value.retry_after == pytest.approx(2.71)
    ddp.close()


def test_subscribe_ready_and_nosub(server: ScriptedServer) -> None:
    ddp = DDPClient(server.url, ping_interval=0)
    ddp.connect()
    assert ddp.subscribe(
        "stream-room-messages", ["__my_messages__", {"useCollection": False, "args": []}]
    )
    with pytest.raises(NotAllowed):
        ddp.subscribe("refused", [])
    ddp.close()


def test_garbage_frames_do_not_kill_the_reader(server: ScriptedServer) -> None:
    events: list[tuple[str, str, list[Any]]] = []
    ddp = DDPClient(
        server.url, ping_interval=0, on_changed=lambda c, e, a: events.append((c, e, a))
    )
    ddp.connect()
    assert ddp.call("garbage") == "still alive"
    assert events == [("stream-room-messages", "__my_messages__", [{"x": 1}])]
    wait_for(lambda: {"msg": "pong", "id": "srv-1"} in server.received)
    assert ddp.call("echo", "after") == ["after"]
    ddp.close()


def test_handler_exception_does_not_kill_the_reader(server: ScriptedServer) -> None:
    def boom(c: str, e: str, a: list[Any]) -> None:
        raise RuntimeError("listener bug")

    ddp = DDPClient(server.url, ping_interval=0, on_changed=boom)
    ddp.connect()
    assert ddp.call("garbage") == "still alive"
    ddp.close()


def test_call_timeout(server: ScriptedServer) -> None:
    ddp = DDPClient(server.url, ping_interval=0)
    ddp.connect()
    with pytest.raises(CallTimeout):
        ddp.call("silent", timeout=0.3)
    ddp.close()


def test_server_close_fails_pending_calls_and_notifies(server: ScriptedServer) -> None:
    closed: list[str] = []
    ddp = DDPClient(server.url, ping_interval=0, on_close=closed.append)
    ddp.connect()
    errors: list[BaseException] = []

    def pending() -> None:
        try:
            ddp.call("silent", timeout=30)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=pending)
    t.start()
    wait_for(lambda: any(f.get("method") == "silent" for f in server.received))
    server.kill_all()
    t.join(10)
    assert len(errors) == 1 and isinstance(errors[0], ConnectionLost)
    wait_for(lambda: len(closed) == 1)
    with pytest.raises(ConnectionLost):
        ddp.call("echo")
    assert not ddp.is_open


def test_keepalive_pings_and_dead_socket_detected(server: ScriptedServer) -> None:
    def pings() -> int:
        return sum(f.get("msg") == "ping" for f in server.received)

    closed: list[str] = []
    # A pong that is merely late (a busy machine) must not close the socket in the first
    # phase, so its timeout is long; the short one comes only before the pongs stop.
    ddp = DDPClient(server.url, ping_interval=0.1, ping_timeout=30, on_close=closed.append)
    ddp.connect()
    wait_for(lambda: pings() >= 2)
    assert not closed
    # Read by each wait, but a ping in flight may still wait the long one: go on once a ping
    # sent after the change is out (or a late pong already closed it, which is fine too).
    ddp.ping_timeout = 0.3
    seen = pings()
    wait_for(lambda: pings() >= seen + 2 or bool(closed), timeout=45)
    server.answer_pings = False
    wait_for(lambda: len(closed) == 1)
    assert "pong" in closed[0]
    assert not ddp.is_open


def test_connect_to_nothing_is_connection_lost() -> None:
    ddp = DDPClient("ws://127.0.0.1:9/websocket", ping_interval=0, connect_timeout=2)
    with pytest.raises(ConnectionLost):
        ddp.connect()


def test_a_brief_call_answers_an_object_result_without_reading_it(server: ScriptedServer) -> None:
    """`call_soon(brief=True)`: an object result written as servers write it answers `{}`; one
    written otherwise, a list, an error and a plain `call_soon` are read as before."""

    def as_written(mid: str, params: list[Any]) -> list[Any]:
        kind, value = params
        frame = {"msg": "result", "id": mid, "result": value}
        if kind == "error":
            frame = {"msg": "result", "id": mid, "error": value}
        if kind == "spaced":  # json.dumps's default separators: not the servers' way
            return [json.dumps(frame)]
        return [json.dumps(frame, separators=(",", ":"))]

    server.handlers["stored"] = as_written
    ddp = DDPClient(server.url, ping_interval=0)
    ddp.connect()
    document = {"_id": "M1", "msg": "hello", "md": [{"type": "PARAGRAPH", "value": []}]}
    assert ddp.call_soon("stored", "compact", document, brief=True)(10) == {}
    assert ddp.call_soon("stored", "spaced", document, brief=True)(10) == document
    assert ddp.call_soon("stored", "compact", [1, 2], brief=True)(10) == [1, 2]
    assert ddp.call_soon("stored", "compact", document)(10) == document
    with pytest.raises(NotAllowed):
        ddp.call_soon("stored", "error", {"error": 403, "reason": "Forbidden"}, brief=True)(10)
    assert ddp.call("stored", "compact", document) == document  # nothing brief is left behind
    ddp.close()


def test_frames_are_masked_as_a_client_must(server: ScriptedServer) -> None:
    """The bot's own frame writer: the server (aiohttp, which refuses unmasked client frames)
    reads every size of frame header, empty to 64 KiB and beyond, as sent."""
    ddp = DDPClient(server.url, ping_interval=0)
    ddp.connect()
    for size in (0, 1, 5, 125, 126, 65535, 65536, 70000):
        text = "é" * (size // 2) + "x" * (size % 2)
        assert ddp.call("echo", text) == [text]
    ddp.close()


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 2471])
def test_the_mask_is_websocket_clients(size: int) -> None:
    payload = bytes(range(256)) * (size // 256 + 1)
    assert mask(b"\x01\xfe\x7f\x80", payload[:size]) == ABNF.mask(
        b"\x01\xfe\x7f\x80", payload[:size]
    )
