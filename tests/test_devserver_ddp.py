"""The realtime API over real WebSockets, frame by frame as the reference describes."""

from __future__ import annotations

import hashlib
import json

import pytest
from ddp_client import DDPError, DDPTestClient
from devserver_fixtures import server_fixture  # noqa: F401 - the `server` fixture
from rocketchat_API.rocketchat import RocketChat

from bot.devserver import DevServer


def rc(server: DevServer, user: str) -> RocketChat:
    return RocketChat(user, f"{user}-dev", server_url=server.url)


@pytest.mark.parametrize("version", ["1", "pre2", "pre1"])
def test_greeting_and_connect(server: DevServer, version: str) -> None:
    with DDPTestClient(server.ws_url) as c:
        c.wait(lambda f: True)
        assert c.raw[0] == '{"server_id":"0"}'
        c.connect(version)
        connected = c.frames[1]
        assert connected["msg"] == "connected" and len(connected["session"]) == 17


def test_unsupported_version_fails_and_closes(server: DevServer) -> None:
    with DDPTestClient(server.ws_url) as c:
        c.send({"msg": "connect", "version": "2", "support": ["2"]})
        assert c.wait(lambda f: f.get("msg") == "failed") == {"msg": "failed", "version": "1"}
        assert c.closed.wait(5)


def test_login_each_way(server: DevServer) -> None:
    uid = server.user_id("omnicat")
    with DDPTestClient(server.ws_url).connect("1") as c:
        r = c.login_digest("omnicat", "omnicat-dev")
        assert r["id"] == uid and r["type"] == "password" and set(r["tokenExpires"]) == {"$date"}
    with DDPTestClient(server.ws_url).connect("pre2") as c:
        token = c.login_password("omnicat", "omnicat-dev")["token"]
    with DDPTestClient(server.ws_url).connect("1") as c:
        assert c.login_resume(token)["type"] == "resume"
    _, pat = server.create_personal_access_token("omnicat")
    with DDPTestClient(server.ws_url).connect("1") as c:
        assert c.login_resume(pat)["id"] == uid
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.login_password("alice", "alice-dev")  # login by e-mail with a digest
        digest = hashlib.sha256(b"alice-dev").hexdigest()
        r = c.result(
            "login",
            {
                "user": {"email": "alice@example.test"},
                "password": {"digest": digest, "algorithm": "sha-256"},
            },
        )
        assert r["id"] == server.user_id("alice")


def test_login_failure_shape(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("1") as c:
        err = c.call("login", {"user": {"username": "omnicat"}, "password": "bad"})["error"]
        assert err == {
            "isClientSafe": True,
            "error": 401,
            "reason": "Incorrect login or password",
            "message": "Incorrect login or password [401]",
            "errorType": "Meteor.Error",
        }


def test_my_messages_frame_shape_edit_and_own_echo(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("pre2") as c:
        c.login_password("omnicat", "omnicat-dev")
        sid, ready = c.sub("stream-room-messages", "__my_messages__", True)
        added = c.frames[-2]
        assert added == {
            "msg": "added",
            "collection": "stream-room-messages",
            "id": "id",
            "fields": {"eventName": "__my_messages__"},
        }
        assert ready == {"msg": "ready", "subs": [sid]}
        alice = rc(server, "alice")
        rid = alice.dm_create("omnicat")["room"]["_id"]
        posted = alice.chat_post_message("hi bot", room_id=rid)["message"]
        args = c.wait_event(
            "stream-room-messages", "__my_messages__", lambda a: a[0]["_id"] == posted["_id"]
        )
        frame = next(
            f
            for f in c.events("stream-room-messages")
            if f["fields"]["args"][0]["_id"] == posted["_id"]
        )
        assert frame["id"] == "id" and set(frame) == {"msg", "collection", "id", "fields"}
        msg, meta = args
        assert meta == {"roomParticipant": True, "roomType": "d"}  # DMs have no name
        assert msg["msg"] == "hi bot" and msg["u"]["username"] == "alice"
        assert isinstance(msg["ts"]["$date"], int) and isinstance(msg["_updatedAt"]["$date"], int)
        alice.chat_update(rid, posted["_id"], "hi bot!")
        edit = c.wait_event(
            "stream-room-messages", "__my_messages__", lambda a: "editedAt" in a[0]
        )[0]
        assert edit["msg"] == "hi bot!" and edit["editedBy"]["username"] == "alice"
        assert isinstance(edit["editedAt"]["$date"], int)
        # the sender gets its own messages back
        mine = c.result("sendMessage", {"_id": "abcdef123456", "rid": rid, "msg": "pong"})
        assert mine["_id"] == "abcdef123456" and set(mine["ts"]) == {"$date"}
        c.wait_event(
            "stream-room-messages", "__my_messages__", lambda a: a[0]["_id"] == "abcdef123456"
        )
        # deletion re-emits as t:"rm" and on stream-notify-room
        c.sub("stream-notify-room", f"{rid}/deleteMessage", False)
        alice.chat_delete(rid, posted["_id"])
        gone = c.wait_event(
            "stream-room-messages", "__my_messages__", lambda a: a[0].get("t") == "rm"
        )[0]
        assert gone["_id"] == posted["_id"]
        assert c.wait_event("stream-notify-room", f"{rid}/deleteMessage") == [
            {"_id": posted["_id"]}
        ]


def test_room_stream_and_notify_user(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("1") as c:
        me = c.login_digest("alice", "alice-dev")["id"]
        assert (
            c.sub("stream-room-messages", "GENERAL", {"useCollection": False, "args": []})[1]["msg"]
            == "ready"
        )
        c.sub("stream-notify-user", f"{me}/rooms-changed", False)
        c.sub("stream-notify-user", f"{me}/subscriptions-changed", False)
        c.sub("stream-notify-user", f"{me}/notification", False)
        assert (
            c.sub("stream-notify-user", "someoneelse/rooms-changed", False)[1]["error"]["error"]
            == "not-allowed"
        )
        bob = rc(server, "bob")
        bob.chat_post_message("hello all", channel="#general")
        assert c.wait_event("stream-room-messages", "GENERAL")[0]["msg"] == "hello all"
        action, room = c.wait_event("stream-notify-user", f"{me}/rooms-changed")
        assert (
            action == "updated"
            and room["_id"] == "GENERAL"
            and room["lastMessage"]["msg"] == "hello all"
        )
        action, sub = c.wait_event("stream-notify-user", f"{me}/subscriptions-changed")
        assert action == "updated" and sub["unread"] == 1
        bob.chat_post_message("psst", channel="@alice")
        note = c.wait_event("stream-notify-user", f"{me}/notification")[0]
        assert note["payload"]["sender"]["username"] == "bob" and note["payload"]["type"] == "d"


def test_server_ping_is_answered_and_silent_client_dropped(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.wait(lambda f: f.get("msg") == "ping", timeout=5)
        c.wait(lambda f: f.get("msg") == "ping", timeout=5, start=len(c.frames))
        assert not c.closed.is_set()
    with DDPTestClient(server.ws_url, answer_pings=False).connect("1") as mute:
        assert mute.closed.wait(10)


def test_client_ping_echoes_id(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("pre2") as c:
        c.send({"msg": "ping", "id": "7"})
        c.wait(lambda f: f == {"msg": "pong", "id": "7"})
        c.send({"msg": "ping"})
        c.wait(lambda f: f == {"msg": "pong"})


def test_method_errors_and_result_framing(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.login_digest("alice", "alice-dev")
        err = c.call("noSuchMethod")["error"]
        assert err["error"] == 404 and err["reason"] == "Method 'noSuchMethod' not found"
        assert (
            err["errorType"] == "Meteor.Error"
            and err["message"] == "Method 'noSuchMethod' not found [404]"
        )
        bad = c.call("sendMessage", {"rid": "GENERAL", "msg": "x", "alias": "Boss"})["error"]
        assert bad["error"] == 400 and bad["reason"] == "Match failed"
        # typing returns nothing: the result frame has no `result` key, and `updated` follows
        frame = c.call("stream-notify-room", "GENERAL/user-activity", "alice", ["user-typing"], {})
        assert set(frame) == {"msg", "id"}
        c.wait(lambda f: f.get("msg") == "updated" and frame["id"] in f["methods"])
        rid = c.result("getRoomIdByNameOrId", "general")
        assert rid == "GENERAL" and c.result("getRoomNameById", rid) == "general"
        dm = c.result("createDirectMessage", "bob")
        assert dm["t"] == "d" and "_id" not in dm and dm["rid"]
        nosub = c.sub("no-such-publication")[1]
        assert nosub["msg"] == "nosub" and nosub["error"]["error"] == 404
        sid, _ = c.sub("stream-notify-logged", "user-status", False)
        c.send({"msg": "unsub", "id": sid})
        assert c.wait(lambda f: f.get("msg") == "nosub" and f.get("id") == sid) == {
            "msg": "nosub",
            "id": sid,
        }


def test_presence_and_join_leave_system_messages(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("1") as watcher:
        watcher.login_digest("omnicat", "omnicat-dev")
        watcher.sub("stream-notify-logged", "user-status", False)
        watcher.sub("stream-room-messages", "__my_messages__", False)
        carol_id = server.user_id("carol")
        with DDPTestClient(server.ws_url).connect("1") as carol:
            carol.login_password("carol", "carol-dev")
            online = watcher.wait_event(
                "stream-notify-logged", "user-status", lambda a: a[0][0] == carol_id
            )
            assert online == [[carol_id, "carol", 1, "", "Carol Contact", ["user"]]]
            assert carol.result("UserPresence:setDefaultStatus", "busy") is True
            watcher.wait_event(
                "stream-notify-logged",
                "user-status",
                lambda a: a[0][0] == carol_id and a[0][2] == 3,
            )
            room = server.room_by_name("support-intake")
            assert carol.result("joinRoom", room["_id"]) is True
            joined = watcher.wait_event(
                "stream-room-messages", "__my_messages__", lambda a: a[0].get("t") == "uj"
            )
            assert joined[0]["msg"] == "carol" and joined[1]["roomName"] == "support-intake"
            carol.result("leaveRoom", room["_id"])
            watcher.wait_event(
                "stream-room-messages", "__my_messages__", lambda a: a[0].get("t") == "ul"
            )
        watcher.wait_event(
            "stream-notify-logged", "user-status", lambda a: a[0][0] == carol_id and a[0][2] == 0
        )
        server.set_presence("dave", "away")
        watcher.wait_event(
            "stream-notify-logged", "user-status", lambda a: a[0][1] == "dave" and a[0][2] == 2
        )


def test_outsider_gets_no_private_events(server: DevServer) -> None:
    bot = rc(server, "omnicat")
    rid = bot.groups_create("private-case", members=["alice"])["group"]["_id"]
    with (
        DDPTestClient(server.ws_url).connect("1") as carol,
        DDPTestClient(server.ws_url).connect("1") as alice,
    ):
        carol.login_password("carol", "carol-dev")
        alice.login_password("alice", "alice-dev")
        for c in (carol, alice):
            c.sub("stream-room-messages", "__my_messages__", False)
        assert carol.sub("stream-room-messages", rid, False)[1]["error"]["error"] == "not-allowed"
        assert carol.sub("stream-notify-room", f"{rid}/deleteMessage", False)[1]["msg"] == "nosub"
        err = carol.call("sendMessage", {"rid": rid, "msg": "let me in"})["error"]
        assert err["error"] == "error-not-allowed"
        with pytest.raises(DDPError):
            carol.result("getRoomIdByNameOrId", "private-case")
        bot.chat_post_message("secret", room_id=rid)
        bot.chat_post_message("public", channel="#general")
        alice.wait_event(
            "stream-room-messages", "__my_messages__", lambda a: a[0]["msg"] == "secret"
        )
        carol.wait_event(
            "stream-room-messages", "__my_messages__", lambda a: a[0]["msg"] == "public"
        )
        assert all(f["fields"]["args"][0]["rid"] != rid for f in carol.events())
        assert "secret" not in "".join(carol.raw)


def test_rate_limit_send_message(server: DevServer) -> None:
    server.set_rate_limits(True, send_message_per_sec=2)
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.login_password("alice", "alice-dev")
        errors = [
            c.call("sendMessage", {"rid": "GENERAL", "msg": str(i)}).get("error") for i in range(4)
        ]
        limited = [e for e in errors if e]
        assert limited and limited[0]["error"] == "too-many-requests"
        assert isinstance(limited[0]["details"]["timeToReset"], int)


def test_drop_sockets_pause_resume_and_calls(server: DevServer) -> None:
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.login_password("omnicat", "omnicat-dev")
        c.sub("stream-room-messages", "__my_messages__", False)
        server.pause_delivery()
        alice = rc(server, "alice")
        for text in ("one", "two"):
            alice.chat_post_message(text, channel="#general")
        assert not c.events()
        server.resume_delivery()
        c.wait_event("stream-room-messages", "__my_messages__", lambda a: a[0]["msg"] == "two")
        assert [f["fields"]["args"][0]["msg"] for f in c.events()] == ["one", "two"]
        assert any(
            call.kind == "ddp" and call.name == "login" and call.user == "omnicat"
            for call in server.calls
        )
        assert server.drop_all_sockets() >= 1
        assert c.closed.wait(5)


def test_sockjs_array_frame_is_accepted(server: DevServer) -> None:
    with DDPTestClient(server.ws_url) as c:
        c.send(json.dumps([json.dumps({"msg": "connect", "version": "1", "support": ["1"]})]))
        c.wait(lambda f: f.get("msg") == "connected")


def test_typing_goes_to_others_only_and_spoofs_are_dropped(server: DevServer) -> None:
    with (
        DDPTestClient(server.ws_url).connect("1") as a,
        DDPTestClient(server.ws_url).connect("1") as b,
    ):
        a.login_password("alice", "alice-dev")
        b.login_password("bob", "bob-dev")
        for c in (a, b):
            c.sub("stream-notify-room", "GENERAL/user-activity", False)
        b.result("stream-notify-room", "GENERAL/user-activity", "alice", ["user-typing"], {})
        b.result("stream-notify-room", "GENERAL/user-activity", "bob", ["user-typing"], {})
        args = a.wait_event("stream-notify-room", "GENERAL/user-activity")
        assert args == ["bob", ["user-typing"], {}]
        assert len(a.events("stream-notify-room")) == 1
        assert b.events("stream-notify-room") == []
