"""Replays of the exact frames rocketchat-async 4.3 and @rocket.chat/sdk 0.2.9 send (ref. §9).

Neither package is installed here, so these tests send their exact frames over a real socket and
check the server gives each client what it reads.
"""

from __future__ import annotations

import hashlib

from ddp_client import DDPTestClient
from devserver_fixtures import server_fixture  # noqa: F401 - the `server` fixture
from rocketchat_API.rocketchat import RocketChat

from bot.devserver import DevServer


def test_rocketchat_async_sequence(server: DevServer) -> None:
    with DDPTestClient(server.ws_url) as c:
        digest = hashlib.sha256(b"omnicat-dev").hexdigest()
        # RCA does not wait for `connected` before logging in.
        c.send({"msg": "connect", "version": "1", "support": ["1"]})
        c.send(
            {
                "msg": "method",
                "method": "login",
                "id": "1",
                "params": [
                    {
                        "user": {"username": "omnicat"},
                        "password": {"digest": digest, "algorithm": "sha-256"},
                    }
                ],
            }
        )
        login = c.wait(lambda f: f.get("id") == "1" and f.get("msg") == "result")
        uid = login["result"]["id"]
        c.send({"msg": "method", "method": "rooms/get", "id": "2", "params": []})
        rooms = c.wait(lambda f: f.get("id") == "2" and f.get("msg") == "result")["result"]
        assert isinstance(rooms, list) and {"_id", "t"} <= set(rooms[0])
        c.send(
            {
                "msg": "sub",
                "id": "3",
                "name": "stream-room-messages",
                "params": ["GENERAL", {"useCollection": False, "args": []}],
            }
        )
        c.send(
            {
                "msg": "sub",
                "id": "4",
                "name": "stream-notify-user",
                "params": [f"{uid}/rooms-changed", False],
            }
        )
        c.wait(lambda f: f.get("msg") == "ready" and f["subs"] == ["4"])
        c.send(
            {
                "msg": "method",
                "method": "sendMessage",
                "id": "5",
                "params": [{"_id": "a1b2c3d4e5f6", "rid": "GENERAL", "msg": "hello"}],
            }
        )
        assert (
            c.wait(lambda f: f.get("id") == "5" and f.get("msg") == "result")["result"]["_id"]
            == "a1b2c3d4e5f6"
        )
        msg = c.wait_event("stream-room-messages", "GENERAL")[0]
        assert {"_id", "rid", "u", "msg"} <= set(msg)
        c.send(
            {
                "msg": "method",
                "method": "setReaction",
                "id": "6",
                "params": [":+1:", "a1b2c3d4e5f6"],
            }
        )
        again = c.wait_event("stream-room-messages", "GENERAL", lambda a: "reactions" in a[0])[0]
        assert again["reactions"] == {":+1:": {"usernames": ["omnicat"]}}
        c.send(
            {
                "msg": "method",
                "method": "stream-notify-room",
                "id": "7",
                "params": ["GENERAL/user-activity", "omnicat", ["user-typing"], {}],
            }
        )
        assert c.wait(lambda f: f.get("id") == "7" and f.get("msg") == "result") == {
            "msg": "result",
            "id": "7",
        }
        action, room = c.wait_event("stream-notify-user", f"{uid}/rooms-changed")
        assert action == "updated" and room["_id"] == "GENERAL" and room["t"] == "c"
        c.send({"msg": "unsub", "id": "3"})
        c.wait(lambda f: f == {"msg": "nosub", "id": "3"})


def test_sdk_sequence(server: DevServer) -> None:
    with DDPTestClient(server.ws_url) as c:
        c.send({"msg": "connect", "version": "pre2", "support": ["pre2"]})
        c.wait(lambda f: f.get("msg") == "connected")
        c.send({"msg": "sub", "id": "0", "name": "meteor.loginServiceConfiguration", "params": []})
        c.wait(lambda f: f == {"msg": "ready", "subs": ["0"]})
        c.send(
            {
                "msg": "method",
                "id": "1",
                "method": "login",
                "params": [{"password": "omnicat-dev", "user": {"username": "omnicat"}}],
            }
        )
        c.wait(lambda f: f.get("id") == "1" and "result" in f)
        c.send(
            {
                "msg": "sub",
                "id": "2",
                "name": "stream-room-messages",
                "params": ["__my_messages__", True],
            }
        )
        c.wait(lambda f: f == {"msg": "ready", "subs": ["2"]})
        c.send({"msg": "ping", "id": "3"})
        c.wait(lambda f: f == {"msg": "pong", "id": "3"})
        c.send({"msg": "method", "id": "4", "method": "getRoomIdByNameOrId", "params": ["general"]})
        assert (
            c.wait(lambda f: f.get("id") == "4" and f.get("msg") == "result")["result"] == "GENERAL"
        )
        c.send(
            {
                "msg": "method",
                "id": "5",
                "method": "sendMessage",
                "params": [{"msg": "hi", "bot": {"i": "js.SDK"}, "rid": "GENERAL"}],
            }
        )
        sent = c.wait(lambda f: f.get("id") == "5" and f.get("msg") == "result")["result"]
        assert sent["bot"] == {"i": "js.SDK"}
        c.send({"msg": "method", "id": "6", "method": "createDirectMessage", "params": ["alice"]})
        rid = c.wait(lambda f: f.get("id") == "6" and f.get("msg") == "result")["result"]["rid"]
        RocketChat("alice", "alice-dev", server_url=server.url).chat_post_message("yo", room_id=rid)
        msg, meta = c.wait_event(
            "stream-room-messages", "__my_messages__", lambda a: a[0]["msg"] == "yo"
        )
        # respondToMessages dereferences these
        assert meta["roomType"] == "d" and msg["u"]["_id"] == server.user_id("alice")
        assert isinstance(msg["ts"]["$date"], int)
        c.send(
            {
                "msg": "method",
                "id": "7",
                "method": "updateMessage",
                "params": [{"_id": sent["_id"], "rid": "GENERAL", "msg": "hi!"}],
            }
        )
        edited = c.wait_event(
            "stream-room-messages",
            "__my_messages__",
            lambda a: a[0]["_id"] == sent["_id"] and "editedAt" in a[0],
        )[0]
        assert isinstance(edited["editedAt"]["$date"], int)
        c.send(
            {
                "msg": "method",
                "id": "8",
                "method": "joinRoom",
                "params": [server.room_by_name("support-intake")["_id"]],
            }
        )
        assert c.wait(lambda f: f.get("id") == "8" and f.get("msg") == "result")["result"] is True
