"""Test hooks (`dev.*` REST routes), pre-8 bodies, `serve()` and `--state` persistence."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from ddp_client import DDPTestClient
from devserver_fixtures import SEED, server_fixture  # noqa: F401 - the `server` fixture
from rocketchat_API.APIExceptions.RocketExceptions import RocketApiException
from rocketchat_API.rocketchat import RocketChat

from bot.devserver import DevServer


def rc(server: DevServer, user: str) -> RocketChat:
    return RocketChat(user, f"{user}-dev", server_url=server.url)


def test_dev_routes_are_admin_only_and_work(server: DevServer) -> None:
    admin = rc(server, "admin")
    alice = rc(server, "alice")
    for route in ("dev.dropSockets", "dev.pause", "dev.resume", "dev.rateLimits"):
        with pytest.raises(RocketApiException) as e:
            alice.call_api_post(route)
        assert e.value.status_code == 403
    alice.groups_create("hooked")
    calls = admin.call_api_get("dev.calls")["calls"]
    made = [c for c in calls if c["name"] == "groups.create"]
    assert made == [
        {
            "kind": "rest",
            "name": "groups.create",
            "user": "alice",
            "params": {"name": "hooked"},
            "status": 200,
        }
    ]
    assert all("alice-dev" not in str(c["params"]) for c in calls)  # passwords never logged
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.login_password("bob", "bob-dev")
        c.sub("stream-room-messages", "__my_messages__", False)
        admin.call_api_post("dev.pause")
        alice.chat_post_message("held", channel="#general")
        assert not c.events()
        admin.call_api_post("dev.resume")
        c.wait_event("stream-room-messages", "__my_messages__", lambda a: a[0]["msg"] == "held")
        assert admin.call_api_post("dev.dropSockets")["dropped"] >= 1
        assert c.closed.wait(5)
    admin.call_api_post("dev.rateLimits", enabled=True, rest_calls=1)
    alice.me()
    with pytest.raises(RocketApiException) as e:
        alice.me()
    assert e.value.status_code == 429
    admin.call_api_post("dev.clearCalls")
    assert [c.name for c in server.calls] == ["dev.clearCalls"]


def test_pre8_error_bodies() -> None:
    seed = {"users": [{"username": "u", "password": "u-dev"}]}
    with DevServer(seed, rc_version="7.10") as old:
        r = requests.get(f"{old.url}/api/v1/me")
        assert r.status_code == 401
        assert r.json() == {
            "success": False,
            "status": "error",
            "message": "You must be logged in to do this.",
            "error": "You must be logged in to do this.",
        }
        api = RocketChat("u", "u-dev", server_url=old.url)
        with pytest.raises(RocketApiException) as e:
            api.call_api_get("dev.calls")
        assert e.value.error.endswith("[error-unauthorized]")
        assert requests.get(f"{old.url}/api/info").json()["version"] == "7.10.0"


def test_send_message_failures_become_ephemeral(server: DevServer) -> None:
    bot = rc(server, "omnicat")
    rid = bot.groups_create("to-archive", members=["alice"])["group"]["_id"]
    bot.groups_archive(rid)
    with DDPTestClient(server.ws_url).connect("1") as c:
        me = c.login_password("alice", "alice-dev")["id"]
        c.sub("stream-notify-user", f"{me}/message", False)
        frame = c.call("sendMessage", {"rid": rid, "msg": "late"})
        assert "result" not in frame and "error" not in frame
        note = c.wait_event("stream-notify-user", f"{me}/message")[0]
        assert note["private"] is True and note["u"]["username"] == "rocket.cat"
        assert note["msg"] == "Room is archived"
        old = {"$date": int((time.time() - 3600) * 1000)}
        assert "result" not in c.call("sendMessage", {"rid": "GENERAL", "msg": "x", "ts": old})
        too_big = c.call("sendMessage", {"rid": "GENERAL", "msg": "x" * 5001})
        assert "result" not in too_big
    assert [m["msg"] for m in server.messages("GENERAL")] == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_state_file_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.bin"
    port = free_port()
    code = (
        "from bot.devserver import serve; import sys; "
        "serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], sys.argv[3], '8')"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def run() -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(port), str(SEED), str(state)],
            stdout=subprocess.PIPE,
            env=env,
        )
        line = proc.stdout.readline().decode()
        assert f"127.0.0.1:{port}" in line
        return proc

    proc = run()
    try:
        api = RocketChat("omnicat", "omnicat-dev", server_url=f"http://127.0.0.1:{port}")
        rid = api.groups_create("kept", members=["alice"])["group"]["_id"]
        api.chat_post_message("remember me", room_id=rid)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert state.exists()
    proc = run()
    try:
        api = RocketChat("omnicat", "omnicat-dev", server_url=f"http://127.0.0.1:{port}")
        assert [m["msg"] for m in api.groups_history(rid)] == ["remember me"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0


def test_waiting_freezes_what_is_kept_and_frees_dropped_cycles() -> None:
    """`omnicat devserver` waits with `wait_freezing_heap`: what the server keeps leaves the
    collector's reach (its full passes stalled every client), a cycle already dropped is freed."""
    import gc
    import threading
    import weakref

    from bot.devserver.server import wait_freezing_heap

    class Node:
        def __init__(self) -> None:
            self.me = self

    dropped = weakref.ref(Node())  # garbage before the first freeze: only the collector frees it
    kept = Node()
    done = threading.Event()
    threading.Timer(0.3, done.set).start()
    try:
        wait_freezing_heap(done, every=0.05)
        assert dropped() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())
    finally:
        gc.unfreeze()
