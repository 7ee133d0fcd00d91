"""Malformed DDP input gets Meteor's errors and never takes the server down.

Like the other fuzz tests, CI runs fixed examples (a failure there is reproducible);
`OMNICAT_FUZZ_RANDOM=1 OMNICAT_FUZZ_EXAMPLES=3000` hunts with fresh ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
import requests
import websocket
from ddp_client import DDPTestClient
from devserver_fixtures import SEED
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.devserver import DevServer

RANDOM = bool(os.environ.get("OMNICAT_FUZZ_RANDOM"))
SCALE = int(os.environ.get("OMNICAT_FUZZ_EXAMPLES", "0"))


@pytest.fixture(scope="module")
def shared() -> Iterator[DevServer]:
    srv = DevServer(SEED, ping_interval=5).start()
    try:
        yield srv
    finally:
        srv.stop()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ddp_keys = st.sampled_from(["msg", "id", "method", "params", "name", "version", "support", "subs"])
ddp_msgs = st.sampled_from(
    ["connect", "method", "sub", "unsub", "ping", "pong", "nonsense", "result", ""]
)
frames = st.one_of(
    st.text(max_size=200),  # mostly not JSON
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"msg": ddp_msgs}, optional={k: json_values for k in ["id", "method", "params", "name"]}
    ).map(json.dumps),
    st.dictionaries(ddp_keys, json_values, max_size=5).map(json.dumps),
)


def assert_still_serving(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("1") as other:
        assert other.login_password("bob", "bob-dev")["id"] == server.user_id("bob")
        assert other.call("ping-me-not").get("error", {}).get("error") == 404
    assert requests.get(f"{server.url}/api/info", timeout=5).json()["success"] is True


@settings(
    max_examples=SCALE or 40,
    deadline=None,
    derandomize=not RANDOM,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(frames, min_size=1, max_size=6), connect_first=st.booleans())
def test_garbage_frames_get_errors(
    shared: DevServer, batch: list[str], connect_first: bool
) -> None:
    with DDPTestClient(shared.ws_url) as c:
        if connect_first:
            c.connect("1")
        for frame in batch:
            if c.closed.is_set():
                break
            try:
                c.send(frame)
            except (websocket.WebSocketException, OSError):
                break
        # The socket still answers (unless a bad `connect` legitimately closed it).
        if not c.closed.is_set():
            try:
                c.send({"msg": "ping", "id": "probe"})
                c.wait(
                    lambda f: (
                        f == {"msg": "pong", "id": "probe"}
                        or f.get("msg") == "failed"
                        or f.get("offendingMessage") == {"msg": "ping", "id": "probe"}
                    ),
                    timeout=5,
                )
            except (websocket.WebSocketException, OSError, TimeoutError):
                # Only a refused `connect` may close the socket (Meteor sends `failed`).
                assert c.closed.is_set(), "server stopped answering"
                assert any(f.get("msg") == "failed" for f in c.frames) or c.close_code == 1009
        for f in c.frames:
            if f.get("msg") == "error":
                assert isinstance(f["reason"], str)
    assert_still_serving(shared)


def test_specific_malformed_frames(shared: DevServer) -> None:
    with DDPTestClient(shared.ws_url) as c:
        c.send("{not json")
        assert c.wait(lambda f: f.get("msg") == "error") == {
            "msg": "error",
            "reason": "Parse error",
        }
        c.send({"msg": "method", "id": "1", "method": "login", "params": []})
        must = c.wait(lambda f: f.get("reason") == "Must connect first")
        assert must["offendingMessage"]["id"] == "1"
        c.connect("1")
        c.send({"nomsg": True})
        assert c.wait(lambda f: f.get("reason") == "Bad request")["offendingMessage"] == {
            "nomsg": True
        }
        c.send({"msg": "whatever"})
        c.wait(lambda f: f.get("offendingMessage") == {"msg": "whatever"})
        c.send({"msg": "method", "id": 5, "method": "x"})
        c.wait(lambda f: f.get("reason") == "Malformed method invocation")
        c.send({"msg": "sub", "id": "s", "name": "stream-room-messages", "params": "nope"})
        c.wait(lambda f: f.get("reason") == "Malformed subscription")
        c.send({"msg": "connect", "version": "1", "support": ["1"]})
        c.wait(lambda f: f.get("reason") == "Already connected")
        err = c.call("login", "not-an-object")["error"]
        assert err["error"] == 400 and err["reason"] == "Match failed"
        err = c.call("sendMessage")["error"]
        assert err["error"] in (400, "error-invalid-user")
    assert_still_serving(shared)


def test_huge_frame_is_refused_and_server_keeps_serving(shared: DevServer) -> None:
    with DDPTestClient(shared.ws_url).connect("1") as c:
        try:
            c.send(
                {
                    "msg": "method",
                    "id": "1",
                    "method": "sendMessage",
                    "params": [{"rid": "GENERAL", "msg": "x" * (2 << 20)}],
                }
            )
        except (websocket.WebSocketException, OSError):
            pass
        assert c.closed.wait(10)
        assert c.close_code in (None, 1009)  # 1009: message too big
    assert_still_serving(shared)


def test_deeply_nested_json(shared: DevServer) -> None:
    with DDPTestClient(shared.ws_url).connect("1") as c:
        c.send("[" * 50000 + "]" * 50000)
        c.send({"msg": "ping", "id": "after"})
        c.wait(lambda f: f == {"msg": "pong", "id": "after"})
    assert_still_serving(shared)


REST_POSTS = [
    "chat.postMessage",
    "chat.sendMessage",
    "chat.update",
    "chat.delete",
    "chat.react",
    "dm.create",
    "groups.create",
    "groups.invite",
    "groups.kick",
    "groups.archive",
    "groups.setTopic",
    "channels.join",
    "users.setStatus",
    "login",
    "rooms.mediaConfirm/GENERAL/nope",
]
REST_GETS = ["groups.history", "channels.history", "users.info", "chat.search", "rooms.info"]
param_values = st.one_of(
    st.sampled_from(["GENERAL", "general", "#general", "@alice", "", "True"]), json_values
)
bodies = st.dictionaries(
    st.sampled_from(
        [
            "roomId",
            "channel",
            "text",
            "msgId",
            "userId",
            "username",
            "name",
            "members",
            "message",
            "emoji",
            "status",
            "topic",
            "user",
            "password",
            "resume",
            "oldest",
            "count",
            "offset",
        ]
    ),
    param_values,
    max_size=5,
)


@settings(
    max_examples=SCALE or 150,
    deadline=None,
    derandomize=not RANDOM,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(route=st.sampled_from(REST_POSTS + REST_GETS), body=bodies)
def test_rest_never_500s(shared: DevServer, route: str, body: dict) -> None:
    uid, token = shared.login_token("alice")
    headers = {"X-User-Id": uid, "X-Auth-Token": token}
    if route in REST_GETS:
        query = "&".join(f"{k}={v}" for k, v in body.items() if not isinstance(v, dict | list))
        r = requests.get(f"{shared.url}/api/v1/{route}?{query}", headers=headers, timeout=5)
    else:
        r = requests.post(f"{shared.url}/api/v1/{route}", json=body, headers=headers, timeout=5)
    assert r.status_code in (200, 400, 401, 403, 404), r.text
    assert "success" in r.json()


LIVECHAT_POSTS = [
    "livechat/visitor",
    "livechat/message",
    "livechat/room.close",
    "livechat/room.forward",
    "livechat/room.closeByUser",
    "livechat/agent.status",
    "method.call/addUsersToRoom",
    "commands.run",
    "settings/Livechat_enabled",
    "livechat/upload/{rid}",
]
LIVECHAT_GETS = [
    "livechat/room",
    "livechat/messages.history/{rid}",
    "livechat/agent.info/{rid}/{token}",
    "livechat/rooms",
    "livechat/{rid}/messages",
    "livechat/room.join",
    "livechat/department",
    "livechat/agents/{uid}/departments",
    "settings",
    "settings.public",
]


@pytest.fixture(scope="module")
def livechat_room(shared: DevServer) -> dict:
    shared.set_livechat_status("omnicat", "available")
    base = f"{shared.url}/api/v1/"
    requests.post(base + "livechat/visitor", json={"visitor": {"token": "fuzz-tok"}}, timeout=5)
    room = requests.get(base + "livechat/room", params={"token": "fuzz-tok"}, timeout=5).json()
    return {"rid": room["room"]["_id"], "token": "fuzz-tok", "uid": shared.user_id("omnicat")}


livechat_values = st.one_of(
    st.sampled_from(["{rid}", "{token}", "{uid}", "", "available", '{"ts": 1}', "invite"]),
    json_values,
)
livechat_bodies = st.dictionaries(
    st.sampled_from(
        [
            "token",
            "rid",
            "msg",
            "visitor",
            "roomId",
            "userId",
            "departmentId",
            "comment",
            "tags",
            "transcriptEmail",
            "status",
            "agentId",
            "sort",
            "count",
            "offset",
            "message",
            "command",
            "params",
            "_id",
            "agents",
            "open",
            "value",
        ]
    ),
    livechat_values,
    max_size=5,
)


def _fill(value: object, known: dict) -> object:
    if isinstance(value, str):
        return value.format(**known) if value in ("{rid}", "{token}", "{uid}") else value
    return value


@settings(
    max_examples=SCALE or 150,
    deadline=None,
    derandomize=not RANDOM,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(LIVECHAT_POSTS + LIVECHAT_GETS),
    body=livechat_bodies,
    who=st.sampled_from([None, "alice", "omnicat"]),
)
def test_livechat_rest_never_500s(
    shared: DevServer, livechat_room: dict, route: str, body: dict, who: str | None
) -> None:
    headers = {}
    if who:
        uid, token = shared.login_token(who)
        headers = {"X-User-Id": uid, "X-Auth-Token": token}
    path = route.format(**livechat_room)
    body = {k: _fill(v, livechat_room) for k, v in body.items()}
    if route in LIVECHAT_GETS:
        params = {k: v for k, v in body.items() if not isinstance(v, dict | list)}
        r = requests.get(f"{shared.url}/api/v1/{path}", params=params, headers=headers, timeout=5)
    else:
        r = requests.post(f"{shared.url}/api/v1/{path}", json=body, headers=headers, timeout=5)
    assert r.status_code in (200, 400, 401, 403, 404, 405), r.text
    assert "success" in r.json()
