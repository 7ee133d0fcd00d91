"""RocketChatClient against the scripted DDP server (real sockets) with REST mocked by `responses`.

This checks the client's own logic (subscriptions, parsing, reconnect supervisor, send fallback)
independently of the dev server; `test_transport_e2e.py` runs the same client against it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses
from test_transport_ddp import ScriptedServer, wait_for

from bot.chat.errors import RocketChatError
from bot.chat.types import Message, Subscription
from bot.rocketchat.client import RocketChatClient

MSG = {
    "_id": "M1",
    "rid": "R1",
    "msg": "hello",
    "ts": {"$date": 1718000000000},
    "u": {"_id": "A1", "username": "alice", "name": "Alice"},
}


class Recorder:
    """A listener that records everything, thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Message] = []
        self.connected: list[bool] = []
        self.disconnected: list[str] = []
        self.presence: list[tuple[str, str, str]] = []
        self.subscriptions: list[tuple[str, Subscription | None, str]] = []

    def on_message(self, message: Message) -> None:
        with self.lock:
            self.messages.append(message)

    def on_connected(self, first: bool) -> None:
        with self.lock:
            self.connected.append(first)

    def on_disconnected(self, reason: str) -> None:
        with self.lock:
            self.disconnected.append(reason)

    def on_presence(self, user_id: str, username: str, status: str) -> None:
        with self.lock:
            self.presence.append((user_id, username, status))

    def on_subscription(self, action: str, subscription: Subscription | None, rid: str) -> None:
        with self.lock:
            self.subscriptions.append((action, subscription, rid))

    def texts(self) -> list[str]:
        with self.lock:
            return [m.text for m in self.messages]


def changed(collection: str, event: str, args: list[Any]) -> str:
    return json.dumps(
        {
            "msg": "changed",
            "collection": collection,
            "id": "id",
            "fields": {"eventName": event, "args": args},
        }
    )


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def rest(server: ScriptedServer) -> Iterator[tuple[responses.RequestsMock, str]]:
    base = server.url.replace("ws://", "http://").removesuffix("/websocket")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            base + "/api/v1/login",
            json={"status": "success", "data": {"userId": "U1", "authToken": "T1"}},
        )
        rsps.get(base + "/api/v1/me", json={"_id": "U1", "username": "bot", "success": True})
        yield rsps, base


@pytest.fixture
def bot(
    server: ScriptedServer, rest: tuple[responses.RequestsMock, str]
) -> Iterator[tuple[RocketChatClient, Recorder]]:
    recorder = Recorder()
    client = RocketChatClient(
        rest[1], username="bot", password="pw", listener=recorder, ping_interval=0.5, call_timeout=2
    )
    client.start()
    yield client, recorder
    client.stop()


def rest_stores(
    rsps: responses.RequestsMock,
    base: str,
    note: Callable[[dict[str, Any]], None] = lambda body: None,
) -> list[dict[str, Any]]:
    """REST `chat.sendMessage` stores what it gets; the bodies it got, in order (each also
    handed to `note`)."""
    bodies: list[dict[str, Any]] = []

    def rest_send(request: Any) -> tuple[int, dict[str, str], str]:
        body = json.loads(request.body)["message"]
        bodies.append(body)
        note(body)
        stored = dict(body, ts="2026-01-01T00:00:00.000Z", u={"_id": "U1", "username": "bot"})
        return 200, {}, json.dumps({"message": stored, "success": True})

    rsps.add_callback(responses.POST, base + "/api/v1/chat.sendMessage", callback=rest_send)
    return bodies


def rate_limited_once(srv: ScriptedServer) -> list[str]:
    """`sendMessage` refused once for the rate limit (50 ms), then stored; the ids it got."""
    seen: list[str] = []

    def send_message(mid: str, params: list[Any]) -> list[Any]:
        seen.append(params[0]["_id"])
        if len(seen) == 1:
            error = {"error": "too-many-requests", "reason": "slow", "details": {"timeToReset": 50}}
            return [{"msg": "result", "id": mid, "error": error}]
        stored = {**MSG, "_id": params[0]["_id"], "msg": params[0]["msg"]}
        return [{"msg": "result", "id": mid, "result": stored}]

    srv.handlers["sendMessage"] = send_message
    return seen


def refuse_as_too_long(srv: ScriptedServer, rsps: responses.RequestsMock, base: str) -> None:
    """RC's answer to a message over the size limit: DDP stores nothing (no value), REST says
    why, and the message is not there."""
    srv.handlers["sendMessage"] = lambda mid, params: [{"msg": "result", "id": mid}]
    refusal = {
        "success": False,
        "error": "Message size exceeds Message_MaxAllowedSize [error-message-size-exceeded]",
        "errorType": "error-message-size-exceeded",
    }
    rsps.add(responses.POST, f"{base}/api/v1/chat.sendMessage", json=refusal, status=400)
    rsps.add(responses.GET, f"{base}/api/v1/chat.getMessage", json={"success": False}, status=400)


def subs_sent(server: ScriptedServer) -> list[tuple[str, list[Any]]]:
    return [(f["name"], f["params"]) for f in server.received if f.get("msg") == "sub"]


def test_start_logs_in_and_subscribes(
    bot: tuple[RocketChatClient, Recorder], server: ScriptedServer
) -> None:
    client, recorder = bot
    assert client.connected and client.bot_user.id == "U1"
    assert recorder.connected == [True]
    assert subs_sent(server) == [
        ("stream-room-messages", ["__my_messages__", {"useCollection": False, "args": []}]),
        ("stream-notify-user", ["U1/rooms-changed", False]),
        ("stream-notify-user", ["U1/subscriptions-changed", False]),
        ("stream-notify-logged", ["user-status", False]),
    ]


def test_stream_events_are_parsed_and_garbage_dropped(
    bot: tuple[RocketChatClient, Recorder], server: ScriptedServer
) -> None:
    _, recorder = bot
    meta = {"roomParticipant": True, "roomType": "d", "roomName": "alice"}
    server.push(changed("stream-room-messages", "__my_messages__", [{"_id": "broken"}, meta]))
    server.push(changed("stream-room-messages", "__my_messages__", ["not a dict"]))
    server.push(changed("stream-notify-logged", "user-status", [["A1"]]))
    server.push(changed("stream-room-messages", "__my_messages__", [MSG, meta]))
    server.push(
        changed("stream-notify-logged", "user-status", [["A1", "alice", 2, "", "Alice", []]])
    )
    sub = {"_id": "S1", "rid": "R1", "t": "d", "name": "alice"}
    server.push(changed("stream-notify-user", "U1/subscriptions-changed", ["inserted", sub]))
    server.push(
        changed(
            "stream-notify-user",
            "U1/subscriptions-changed",
            ["removed", {"_id": "S1", "rid": "R1"}],
        )
    )
    wait_for(lambda: len(recorder.subscriptions) == 2)
    assert [(m.id, m.room_type, m.room_name) for m in recorder.messages] == [("M1", "d", "alice")]
    assert recorder.presence == [("A1", "alice", "away")]
    (a1, s1, r1), (a2, s2, r2) = recorder.subscriptions
    assert (a1, s1 is not None and s1.rid, r1) == ("inserted", "R1", "R1")
    assert (a2, s2, r2) == ("removed", None, "R1")


class OwnIgnoringRecorder(Recorder):
    ignores_own_messages = True


def test_own_messages_reach_a_listener_only_if_it_wants_them(
    server: ScriptedServer, rest: tuple[responses.RequestsMock, str]
) -> None:
    own = {**MSG, "_id": "M2", "msg": "my reply", "u": {"_id": "U1", "username": "bot"}}
    for recorder in (Recorder(), OwnIgnoringRecorder()):
        client = RocketChatClient(
            rest[1], username="bot", password="pw", listener=recorder, ping_interval=0
        )
        client.start()
        try:
            server.push(changed("stream-room-messages", "__my_messages__", [own, {}]))
            server.push(changed("stream-room-messages", "__my_messages__", [MSG, {}]))
            wait_for(lambda r=recorder: "hello" in r.texts())
        finally:
            client.stop()
        wanted = ["my reply", "hello"] if type(recorder) is Recorder else ["hello"]
        assert recorder.texts() == wanted


def test_reconnects_resubscribes_and_reports(
    bot: tuple[RocketChatClient, Recorder], server: ScriptedServer
) -> None:
    client, recorder = bot
    server.kill_all()
    wait_for(lambda: recorder.disconnected)
    wait_for(lambda: recorder.connected == [True, False])
    assert client.connected
    assert len(subs_sent(server)) == 8
    logins = [f for f in server.received if f.get("method") == "login"]
    assert len(logins) == 2
    server.push(changed("stream-room-messages", "__my_messages__", [MSG, {}]))
    wait_for(lambda: recorder.messages)
    # A second drop is survived too.
    server.kill_all()
    wait_for(lambda: recorder.connected == [True, False, False])


def test_send_over_ddp_uses_only_allowed_keys(
    bot: tuple[RocketChatClient, Recorder], server: ScriptedServer
) -> None:
    client, _ = bot

    def send_message(mid: str, params: list[Any]) -> list[Any]:
        stored = dict(params[0], ts={"$date": 1718000000000}, u={"_id": "U1", "username": "bot"})
        return [{"msg": "result", "id": mid, "result": stored}]

    server.handlers["sendMessage"] = send_message
    message = client.send("R1", "hi", tmid="T9")
    assert message is not None and message.text == "hi" and message.tmid == "T9"
    frame = next(f for f in server.received if f.get("method") == "sendMessage")
    sent = frame["params"][0]
    assert set(sent) == {"_id", "rid", "msg", "tmid"}
    assert len(sent["_id"]) == 17 and sent["_id"] == message.id


def test_send_retries_after_rate_limit(
    bot: tuple[RocketChatClient, Recorder], server: ScriptedServer
) -> None:
    client, _ = bot
    seen = rate_limited_once(server)
    sent = client.send("R1", "hi")
    assert sent is not None and sent.id == seen[0] and sent.text == "hi"
    assert len(seen) == 2 and seen[0] == seen[1]  # same _id: a retry cannot duplicate


def test_a_send_rocket_chat_swallowed_asks_rest_why(
    bot: tuple[RocketChatClient, Recorder],
    server: ScriptedServer,
    rest: tuple[responses.RequestsMock, str],
) -> None:
    """RC's `sendMessage` answers a refusal (too long, a filtered word) with no value and an
    ephemeral notice to the sender: the client asks REST, which says why."""
    client, _ = bot
    rsps, base = rest
    refuse_as_too_long(server, rsps, base)
    with pytest.raises(RocketChatError) as refused:
        client.send("R1", "x" * 6000)
    assert refused.value.key == "error-message-size-exceeded"


def test_send_falls_back_to_rest_with_same_id(
    bot: tuple[RocketChatClient, Recorder],
    server: ScriptedServer,
    rest: tuple[responses.RequestsMock, str],
) -> None:
    client, _ = bot
    rsps, base = rest
    server.handlers["sendMessage"] = lambda mid, params: []  # never answers: DDP times out
    rest_stores(rsps, base)
    message = client.send("R1", "via rest")
    assert message is not None and message.text == "via rest"
    ddp_id = next(f for f in server.received if f.get("method") == "sendMessage")["params"][0][
        "_id"
    ]
    assert message.id == ddp_id


def test_stop_is_clean_and_final(
    server: ScriptedServer, rest: tuple[responses.RequestsMock, str]
) -> None:
    recorder = Recorder()
    client = RocketChatClient(
        rest[1], username="bot", password="pw", listener=recorder, ping_interval=0
    )
    client.start()
    client.stop()
    assert not client.connected
    assert recorder.disconnected == []
    wait_for(lambda: not server.sockets)
    assert recorder.connected == [True]
