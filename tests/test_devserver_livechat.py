"""The dev server's livechat: a visitor over the visitor REST (no account), the routing to the
bot agent with its stream events, and the agent side with Rocket.Chat's permission checks."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from ddp_client import DDPTestClient
from devserver_fixtures import SEED

from bot.devserver import DevServer

_tokens = itertools.count(1)


@pytest.fixture(name="server")
def server_fixture() -> Iterator[DevServer]:
    srv = DevServer(SEED, ping_interval=0.5).start()
    try:
        yield srv
    finally:
        srv.stop()


class Api:
    """REST as one user (or as nobody: a visitor)."""

    def __init__(self, server: DevServer, username: str | None = None) -> None:
        self.base = f"{server.url}/api/v1/"
        self.headers: dict[str, str] = {}
        if username:
            uid, token = server.login_token(username)
            self.headers = {"X-User-Id": uid, "X-Auth-Token": token}

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.base + path, params=params, headers=self.headers, timeout=10)

    def post(self, path: str, body: Any = None) -> requests.Response:
        return requests.post(self.base + path, json=body or {}, headers=self.headers, timeout=10)


def ok(r: requests.Response) -> dict:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    return body


def refused(r: requests.Response, status: int = 400) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False
    return body


def bot_available(server: DevServer) -> None:
    assert ok(Api(server, "omnicat").post("livechat/agent.status", {"status": "available"})) == {
        "status": "available",
        "success": True,
    }


def visitor_room(server: DevServer, **visitor: Any) -> tuple[str, dict]:
    token = f"tok-{next(_tokens)}"
    api = Api(server)
    ok(api.post("livechat/visitor", {"visitor": {"token": token, **visitor}}))
    body = ok(api.get("livechat/room", token=token))
    assert body["newRoom"] is True
    return token, body["room"]


def say(server: DevServer, token: str, rid: str, text: str) -> dict:
    body = ok(Api(server).post("livechat/message", {"token": token, "rid": rid, "msg": text}))
    return body["message"]


def history(server: DevServer, token: str, rid: str) -> list[dict]:
    return ok(Api(server).get(f"livechat/messages.history/{rid}", token=token))["messages"]


def add_user(server: DevServer, adder: str, rid: str, username: str) -> dict:
    _uid, token = server.login_token(adder)
    with DDPTestClient(server.ws_url).connect() as c:
        c.login_resume(token)
        return c.call("addUsersToRoom", {"rid": rid, "users": [username]})


# ---- visitor flow -------------------------------------------------------------------------------


def test_a_visitor_writes_without_any_account_and_reads_the_agents_reply(
    server: DevServer,
) -> None:
    bot_available(server)
    api = Api(server)
    v = ok(
        api.post(
            "livechat/visitor",
            {"visitor": {"token": "vera-1", "name": "Vera", "email": "Vera@Example.test"}},
        )
    )["visitor"]
    assert v["token"] == "vera-1" and v["username"].startswith("guest-")
    assert v["visitorEmails"] == [{"address": "vera@example.test"}]
    room = ok(api.get("livechat/room", token="vera-1"))["room"]
    assert room["t"] == "l" and room["open"] is True and room["fname"] == "Vera"
    assert room["v"] == {"_id": v["_id"], "username": v["username"], "token": "vera-1",
                         "status": "online"}  # fmt: skip
    assert room["servedBy"]["username"] == "omnicat"
    assert room["source"] == {"type": "api"}
    again = ok(api.get("livechat/room", token="vera-1"))
    assert again["newRoom"] is False and again["room"]["_id"] == room["_id"]

    msg = say(server, "vera-1", room["_id"], "my printer is on fire")
    assert msg["token"] == "vera-1" and msg["alias"] == "Vera"
    assert msg["u"] == {"_id": v["_id"], "username": v["username"], "name": "Vera"}

    bot = Api(server, "omnicat")
    ok(bot.post("chat.sendMessage", {"message": {"rid": room["_id"], "msg": "On my way!"}}))
    texts = [(m.get("t"), m["msg"]) for m in history(server, "vera-1", room["_id"])]
    assert texts[:2] == [(None, "On my way!"), (None, "my printer is on fire")]  # newest first
    assert (("uj", "omnicat") in texts) and (("command", "connected") in texts)
    agent = ok(api.get(f"livechat/agent.info/{room['_id']}/vera-1"))["agent"]
    assert agent["username"] == "omnicat"


def test_visitor_errors_carry_rocket_chats_keys(server: DevServer) -> None:
    api = Api(server)
    assert refused(api.post("livechat/visitor", {"visitor": {"token": ""}}))["error"] == (
        "error-invalid-token"
    )
    assert refused(api.get("livechat/room", token="nobody"))["error"] == "invalid-token"
    ok(api.post("livechat/visitor", {"visitor": {"token": "t-x"}}))
    # Nobody online yet (the bot has not set itself available, bob is offline).
    no_agent = refused(api.get("livechat/room", token="t-x"))
    assert no_agent["error"] == "Sorry, no online agents [no-agent-online]"
    assert no_agent["errorType"] == "no-agent-online"
    bot_available(server)
    token, room = visitor_room(server)
    rid = room["_id"]
    body = {"token": token, "rid": "elsewhere", "msg": "x"}
    assert refused(api.post("livechat/message", body))["error"] == "invalid-room"
    body = {"token": "nobody", "rid": rid, "msg": "x"}
    assert refused(api.post("livechat/message", body))["error"] == "invalid-token"
    # RC 8.x validates the query first (isGETLivechatMessagesHistoryRidParams requires the
    # token); only a lenient dev server reaches the handler's own check.
    assert refused(api.get(f"livechat/messages.history/{rid}"))["error"] == (
        "must have required property 'token' [invalid-params]"
        if server.strict
        else "error-token-param-not-provided"
    )
    assert refused(api.get(f"livechat/messages.history/{rid}", token="nobody"))["error"] == (
        "invalid-token"
    )
    server.set_setting("Omnichannel_allow_visitors_to_close_conversation", False)
    assert refused(api.post("livechat/room.close", {"rid": rid, "token": token}))["error"] == (
        "error-not-allowed-to-close-conversation"
    )
    server.set_setting("Omnichannel_allow_visitors_to_close_conversation", True)
    assert ok(api.post("livechat/room.close", {"rid": rid, "token": token}))["comment"] == (
        "Closed by visitor"
    )
    assert refused(api.post("livechat/room.close", {"rid": rid, "token": token}))["error"] == (
        "room-closed"
    )
    body = {"token": token, "rid": rid, "msg": "hello?"}
    assert refused(api.post("livechat/message", body))["error"] == "room-closed"
    assert refused(api.get("livechat/room", token=token, rid=rid))["error"] == "invalid-room"
    # A closed room is left behind: the next request opens a new one.
    assert ok(api.get("livechat/room", token=token))["newRoom"] is True
    server.set_setting("Livechat_enable_message_character_limit", True)
    server.set_setting("Livechat_message_character_limit", 5)
    new = server.visitor_room(token)
    body = {"token": token, "rid": new["_id"], "msg": "too long"}
    assert refused(api.post("livechat/message", body))["error"] == (
        "message-length-exceeds-character-limit"
    )


def test_no_agent_at_all_queues_when_accepted_and_agent_info_says_invalid_agent(
    server: DevServer,
) -> None:
    server.set_setting("Livechat_assign_new_conversation_to_bot", False)
    server.set_setting("Livechat_Routing_Method", "Manual_Selection")
    server.set_setting("Livechat_accept_chats_with_no_agents", True)
    token, room = visitor_room(server)
    assert "servedBy" not in room and server.subscriptions(room["_id"]) == []
    r = Api(server).get(f"livechat/agent.info/{room['_id']}/{token}")
    assert refused(r)["error"] == "invalid-agent"


def test_a_department_without_the_bot_goes_to_its_human(server: DevServer) -> None:
    bot_available(server)
    server.add_department("dep-humans", "Humans", ["bob"])
    server.set_presence("bob", "online")
    _, room = visitor_room(server, department="Humans")
    assert room["departmentId"] == "dep-humans"
    assert room["servedBy"]["username"] == "bob"
    _, room = visitor_room(server, department="dep-sales")
    assert room["servedBy"]["username"] == "omnicat"
    assert server.members_of(room["_id"]) == ["omnicat"]


# ---- the bot agent's realtime view ---------------------------------------------------------


def test_assignment_reaches_the_bot_as_stream_events(server: DevServer) -> None:
    bot_available(server)
    uid, token = server.login_token("omnicat")
    with DDPTestClient(server.ws_url).connect() as c:
        c.login_resume(token)
        c.sub("stream-notify-user", f"{uid}/subscriptions-changed", False)
        c.sub("stream-notify-user", f"{uid}/rooms-changed", False)
        c.sub("stream-room-messages", "__my_messages__", False)
        vtoken, room = visitor_room(server, name="Walt", department="dep-support")
        rid = room["_id"]
        _action, sub = c.wait_event(
            "stream-notify-user", f"{uid}/subscriptions-changed", lambda a: a[0] == "inserted"
        )
        assert sub["t"] == "l" and sub["rid"] == rid and sub["department"] == "dep-support"
        assert sub["v"]["token"] == vtoken and set(sub["v"]) >= {"_id", "username", "status"}
        c.wait_event("stream-notify-user", f"{uid}/rooms-changed", lambda a: a[1]["_id"] == rid)
        for t in ("command", "uj"):
            msg, meta = c.wait_event(
                "stream-room-messages", "__my_messages__", lambda a, t=t: a[0].get("t") == t
            )
            assert meta == {"roomParticipant": True, "roomType": "l"}
        say(server, vtoken, rid, "hello bot")
        msg, meta = c.wait_event(
            "stream-room-messages", "__my_messages__", lambda a: a[0].get("msg") == "hello bot"
        )
        assert msg["token"] == vtoken and msg["alias"] == "Walt"
        assert msg["u"]["username"].startswith("guest-")
        assert meta == {"roomParticipant": True, "roomType": "l"}
        ok(Api(server).post("livechat/room.close", {"rid": rid, "token": vtoken}))
        _action, gone = c.wait_event(
            "stream-notify-user", f"{uid}/subscriptions-changed", lambda a: a[0] == "removed"
        )
        assert gone["rid"] == rid
        msg, meta = c.wait_event(
            "stream-room-messages",
            "__my_messages__",
            lambda a: a[0].get("t") == "livechat-close",
        )
        assert msg["token"] == vtoken and msg["msg"] == "Closed by visitor"
        assert meta["roomParticipant"] is False  # still served by the bot, no longer subscribed


def test_a_visitor_reads_its_room_in_real_time_with_its_token(server: DevServer) -> None:
    bot_available(server)
    token, room = visitor_room(server)
    with DDPTestClient(server.ws_url).connect() as c:
        _, refused_frame = c.sub(
            "stream-room-messages", room["_id"], {"useCollection": False, "args": [{"token": "x"}]}
        )
        assert refused_frame["msg"] == "nosub"
        _, ready = c.sub(
            "stream-room-messages",
            room["_id"],
            {"useCollection": False, "args": [{"token": token, "visitorToken": token}]},
        )
        assert ready["msg"] == "ready"
        bot = Api(server, "omnicat")
        ok(bot.post("chat.sendMessage", {"message": {"rid": room["_id"], "msg": "hi there"}}))
        (msg,) = c.wait_event(
            "stream-room-messages", room["_id"], lambda a: a[0].get("msg") == "hi there"
        )
        assert msg["u"]["username"] == "omnicat"


# ---- bringing a human in, moving them, closing -------------------------------------------------


def test_add_users_to_room_needs_the_grant_and_an_agent(server: DevServer) -> None:
    bot_available(server)
    _, room = visitor_room(server)
    rid = room["_id"]
    server.revoke("add-user-to-joined-room", "bot")
    frame = add_user(server, "omnicat", rid, "alice")
    assert frame["error"]["error"] == "error-not-allowed"
    server.grant("add-user-to-joined-room", "bot")
    frame = add_user(server, "omnicat", rid, "carol")  # no view-l-room
    assert frame["error"]["error"] == "error-user-is-not-agent"
    assert frame["error"]["reason"] == "User is not an Omnichannel Agent"
    assert add_user(server, "omnicat", rid, "alice")["result"] is True
    assert server.members_of(rid) == ["alice", "omnicat"]
    assert server.room(rid)["servedBy"]["username"] == "omnicat"
    au = [m for m in server.messages(rid) if m.get("t") == "au"]
    assert [(m["msg"], m["u"]["username"]) for m in au] == [("alice", "omnicat")]
    # alice (subscribed, view-l-room) writes; the visitor reads it.
    ok(Api(server, "alice").post("chat.postMessage", {"roomId": rid, "text": "Alice here"}))
    assert history(server, room["v"]["token"], rid)[0]["msg"] == "Alice here"
    # Removing is not a thing on livechat rooms.
    _uid, token = server.login_token("omnicat")
    with DDPTestClient(server.ws_url).connect() as c:
        c.login_resume(token)
        frame = c.call("removeUserFromRoom", {"rid": rid, "username": "alice"})
        assert frame["error"]["error"] == "error-not-allowed"
    r = Api(server, "alice").post("rooms.leave", {"roomId": rid})
    assert refused(r)["error"].startswith("You can't leave a omnichannel room")
    assert server.members_of(rid) == ["alice", "omnicat"]


def test_method_call_and_invite_command_add_an_agent(server: DevServer) -> None:
    bot_available(server)
    _, room = visitor_room(server)
    rid = room["_id"]
    bot = Api(server, "omnicat")
    message = json.dumps(
        {"msg": "method", "id": "7", "method": "addUsersToRoom",
         "params": [{"rid": rid, "users": ["alice"]}]}
    )  # fmt: skip
    body = ok(bot.post("method.call/addUsersToRoom", {"message": message}))
    assert json.loads(body["message"]) == {"msg": "result", "id": "7", "result": True}
    server.revoke("add-user-to-joined-room", "bot")
    uid, token = server.login_token("omnicat")
    with DDPTestClient(server.ws_url).connect() as c:
        c.login_resume(token)
        c.sub("stream-notify-user", f"{uid}/message", False)
        ok(bot.post("commands.run", {"command": "invite", "params": "@bob", "roomId": rid}))
        (eph,) = c.wait_event("stream-notify-user", f"{uid}/message")
        assert eph["msg"] == "Not allowed" and eph["rid"] == rid
    body = ok(bot.post("method.call/addUsersToRoom", {"message": message.replace("alice", "bob")}))
    assert json.loads(body["message"])["error"]["error"] == "error-not-allowed"
    server.grant("add-user-to-joined-room", "bot")
    ok(bot.post("commands.run", {"command": "invite", "params": "@bob", "roomId": rid}))
    assert server.members_of(rid) == ["alice", "bob", "omnicat"]


def test_forward_moves_the_room_and_removes_everyone_else(server: DevServer) -> None:
    bot_available(server)
    server.revoke("view-livechat-rooms", "bot")  # the bare minimum setup
    token, room = visitor_room(server)
    rid = room["_id"]
    add_user(server, "omnicat", rid, "alice")
    bot = Api(server, "omnicat")
    bob = server.user_id("bob")
    # bob is available but not present: a human target must be online.
    r = bot.post("livechat/room.forward", {"roomId": rid, "userId": bob})
    assert refused(r)["error"] == "error-user-is-offline"
    server.set_presence("bob", "online")
    server.revoke("transfer-livechat-guest", "bot")
    refused(bot.post("livechat/room.forward", {"roomId": rid, "userId": bob}), 403)
    server.grant("transfer-livechat-guest", "bot")
    r = bot.post("livechat/room.forward", {"roomId": rid, "userId": server.user_id("omnicat")})
    assert refused(r)["error"] == "error-selected-agent-room-agent-are-same"
    ok(bot.post("livechat/room.forward", {"roomId": rid, "userId": bob, "comment": "billing"}))
    assert server.members_of(rid) == ["bob"]
    assert server.room(rid)["servedBy"]["username"] == "bob"
    kinds = [(m.get("t"), m["msg"]) for m in server.messages(rid)][-5:]
    assert kinds[:2] == [("command", "connected"), ("uj", "bob")]
    assert sorted(kinds[2:4]) == [("ul", "alice"), ("ul", "omnicat")]
    hist = server.messages(rid)[-1]
    assert hist["t"] == "livechat_transfer_history"
    assert hist["transferData"]["transferredTo"]["username"] == "bob"
    assert hist["transferData"]["comment"] == "billing"
    # The bot lost the room: no longer served, subscribed, nor a manager.
    assert refused(bot.get("livechat/room.join", roomId=rid))["error"] == "error-not-allowed"
    refused(bot.get(f"livechat/{rid}/messages"))
    # Back to the bot: bob goes too.
    server.grant("view-livechat-rooms", "bot")  # as the shipped seed does
    ok(bot.get("livechat/room.join", roomId=rid))
    assert server.members_of(rid) == ["bob", "omnicat"]
    ok(bot.post("livechat/room.forward", {"roomId": rid, "userId": server.user_id("omnicat")}))
    assert server.members_of(rid) == ["omnicat"]
    assert history(server, token, rid)[0]["t"] == "livechat_transfer_history"
    # The members as an agent's client lists them, and the room as rooms.info shows it.
    _uid, tok = server.login_token("omnicat")
    with DDPTestClient(server.ws_url).connect() as c:
        c.login_resume(tok)
        users = c.result("getUsersOfRoom", rid, True)
        assert [u["username"] for u in users["records"]] == ["omnicat"] and users["total"] == 1
    info = ok(bot.get("rooms.info", roomId=rid))["room"]
    assert info["servedBy"]["username"] == "omnicat" and info["v"]["token"] == token
    visitor = ok(bot.get("livechat/visitors.info", visitorId=info["v"]["_id"]))["visitor"]
    assert visitor["token"] == token
    assert refused(bot.get("livechat/visitors.info", visitorId="x"))["error"] == "visitor-not-found"


def test_close_by_user_needs_a_comment_and_removes_every_subscription(server: DevServer) -> None:
    bot_available(server)
    token, room = visitor_room(server)
    rid = room["_id"]
    add_user(server, "omnicat", rid, "alice")
    bot = Api(server, "omnicat")
    r = bot.post("livechat/room.closeByUser", {"rid": rid})
    assert refused(r)["error"] == "error-comment-is-required"
    r = Api(server, "bob").post("livechat/room.closeByUser", {"rid": rid, "comment": "x"})
    assert refused(r)["error"] == "error-not-authorized"  # not subscribed, no close-others
    body = {"rid": rid, "comment": "Solved", "tags": ["printer"],
            "transcriptEmail": {"sendToVisitor": False}}  # fmt: skip
    ok(bot.post("livechat/room.closeByUser", body))
    assert server.subscriptions(rid) == []
    closed = server.room(rid)
    assert "open" not in closed and closed["closer"] == "user" and closed["tags"] == ["printer"]
    assert closed["closedBy"]["username"] == "omnicat"
    last = history(server, token, rid)[0]
    assert last["t"] == "livechat-close" and last["msg"] == "Solved"
    assert "token" not in last
    r = bot.post("livechat/room.closeByUser", {"rid": rid, "comment": "again"})
    assert refused(r)["error"] == "error-room-already-closed"
    # The serving bot still reads the closed room.
    msgs = ok(bot.get(f"livechat/{rid}/messages"))["messages"]
    assert msgs[0]["t"] == "livechat-close"


def test_department_closing_tags_are_required_when_the_department_says_so(
    server: DevServer,
) -> None:
    bot_available(server)
    server.add_department(
        "dep-tagged", "Tagged", ["omnicat"], request_tags=True, closing_tags=["billing"]
    )
    _, room = visitor_room(server, department="dep-tagged")
    bot = Api(server, "omnicat")
    r = bot.post("livechat/room.closeByUser", {"rid": room["_id"], "comment": "done"})
    assert refused(r)["error"] == "error-tags-must-be-assigned-before-closing-chat"
    body = {"rid": room["_id"], "comment": "done", "tags": ["billing"]}
    ok(bot.post("livechat/room.closeByUser", body))


# ---- reading: rooms, messages, history ---------------------------------------------------------


def test_rooms_of_the_bot_and_the_permission_rule(server: DevServer) -> None:
    bot_available(server)
    rooms = [visitor_room(server, department="dep-sales")[1]["_id"] for _ in range(3)]
    bot = Api(server, "omnicat")
    uid = server.user_id("omnicat")
    body = ok(bot.get("livechat/rooms", **{"agents[]": uid, "open": "true", "count": 2}))
    assert body["total"] == 3 and body["count"] == 2 and body["offset"] == 0
    assert [r["_id"] for r in body["rooms"]] == rooms[::-1][:2]  # newest first
    assert body["rooms"][0]["department"] == {"_id": "dep-sales", "name": "Sales"}
    # Anyone else's rooms need view-livechat-rooms.
    server.revoke("view-livechat-rooms", "bot")
    refused(bot.get("livechat/rooms", **{"agents[]": server.user_id("bob")}), 403)
    refused(bot.get("livechat/rooms"), 403)
    refused(Api(server).get("livechat/rooms"), 401)
    admin = Api(server, "admin")
    assert ok(admin.get("livechat/rooms", open="false"))["total"] == 0


def test_room_messages_are_user_messages_and_the_close(server: DevServer) -> None:
    bot_available(server)
    token, room = visitor_room(server)
    rid = room["_id"]
    for text in ("one", "two", "three"):
        say(server, token, rid, text)
    bot = Api(server, "omnicat")
    body = ok(bot.get(f"livechat/{rid}/messages", count=2, offset=1))
    assert [m["msg"] for m in body["messages"]] == ["two", "one"]
    assert (body["total"], body["count"], body["offset"]) == (3, 2, 1)
    body = ok(bot.get(f"livechat/{rid}/messages", sort=json.dumps({"ts": 1})))
    assert [m["msg"] for m in body["messages"]] == ["one", "two", "three"]
    assert refused(bot.get("livechat/nope/messages"))["error"] == "invalid-room"
    server.revoke("view-l-room", "livechat-agent")
    refused(Api(server, "alice").get(f"livechat/{rid}/messages"), 403)
    _uid, tok = server.login_token("omnicat")
    with DDPTestClient(server.ws_url).connect() as c:
        c.login_resume(tok)
        result = c.result("loadHistory", rid, None, 50, None)
        assert [m.get("t") or m["msg"] for m in result["messages"]] == [
            "three", "two", "one", "uj", "command", "livechat-started"]  # fmt: skip


def test_agent_status_and_business_hours(server: DevServer) -> None:
    bot = Api(server, "omnicat")
    assert ok(bot.post("livechat/agent.status", {}))["status"] == "available"  # toggles
    assert ok(bot.post("livechat/agent.status", {}))["status"] == "not-available"
    server.set_business_hours_closed(True)
    r = bot.post("livechat/agent.status", {"status": "available"})
    assert refused(r)["error"] == "error-business-hours-are-closed"
    assert server.livechat_status("alice") == "not-available"
    server.set_business_hours_closed(False)
    bot_available(server)
    refused(Api(server, "carol").post("livechat/agent.status", {"status": "available"}), 403)
    r = Api(server, "alice").post(
        "livechat/agent.status", {"status": "not-available", "agentId": server.user_id("bob")}
    )
    refused(r, 403)  # someone else's status needs manage-livechat-agents
    assert server.livechat_status("bob") == "available"


def test_uploads_and_bot_messages_work_in_a_livechat_room(server: DevServer) -> None:
    bot_available(server)
    token, room = visitor_room(server)
    rid = room["_id"]
    bot = Api(server, "omnicat")
    up = requests.post(
        f"{server.url}/api/v1/rooms.media/{rid}",
        files={"file": ("note.txt", b"hello", "text/plain")},
        headers=bot.headers,
        timeout=10,
    )
    fid = ok(up)["file"]["_id"]
    ok(bot.post(f"rooms.mediaConfirm/{rid}/{fid}", {"msg": "the file"}))
    assert history(server, token, rid)[0]["file"]["name"] == "note.txt"
    # The visitor uploads with its token; the bot downloads what it sees in the room.
    up = requests.post(
        f"{server.url}/api/v1/livechat/upload/{rid}",
        files={"file": ("shot.png", b"\x89PNG", "image/png")},
        data={"description": "the error"},
        headers={"x-visitor-token": token},
        timeout=10,
    )
    sent = ok(up)
    assert sent["token"] == token and sent["file"]["name"] == "shot.png"
    assert sent["attachments"][0]["description"] == "the error"
    got = requests.get(server.url + sent["attachments"][0]["title_link"], headers=bot.headers)
    assert got.status_code == 200 and got.content == b"\x89PNG"
    r = requests.post(
        f"{server.url}/api/v1/livechat/upload/{rid}",
        files={"file": ("x.txt", b"x", "text/plain")},
        headers={"x-visitor-token": "nobody"},
        timeout=10,
    )
    refused(r, 401)
    # A user with no part in the room can do nothing there.
    r = Api(server, "carol").post("chat.sendMessage", {"message": {"rid": rid, "msg": "hi"}})
    refused(r)


# ---- settings and permissions as check-server reads them ---------------------------------------


def test_settings_and_permissions_endpoints(server: DevServer) -> None:
    bot = Api(server, "omnicat")
    refused(bot.get("settings/Livechat_assign_new_conversation_to_bot"), 403)
    admin = Api(server, "admin")
    assert ok(admin.get("settings/Livechat_assign_new_conversation_to_bot"))["value"] is True
    ids = "Livechat_enabled,Livechat_assign_new_conversation_to_bot"
    # `settings` lists what the caller may see: public settings only without
    # view-privileged-setting. It takes no `_id` (that is settings.public's): strict, that is
    # Rocket.Chat's 400.
    seen = {s["_id"] for s in ok(bot.get("settings", count=100))["settings"]}
    assert "Livechat_enabled" in seen and "Livechat_assign_new_conversation_to_bot" not in seen
    seen = {s["_id"] for s in ok(admin.get("settings", count=100))["settings"]}
    assert {"Livechat_enabled", "Livechat_assign_new_conversation_to_bot"} <= seen
    if server.strict:
        assert refused(bot.get("settings", _id=ids))["errorType"] == "invalid-params"
    public = ok(Api(server).get("settings.public", _id=ids))["settings"]
    assert public == [{"_id": "Livechat_enabled", "value": True}]
    ok(admin.post("settings/Livechat_Routing_Method", {"value": "Manual_Selection"}))
    assert server.setting("Livechat_Routing_Method") == "Manual_Selection"
    refused(bot.post("settings/Livechat_Routing_Method", {"value": "x"}), 403)
    perms = {p["_id"]: p["roles"] for p in ok(bot.get("permissions.listAll"))["update"]}
    assert "bot" in perms["add-user-to-joined-room"] and "bot" in perms["transfer-livechat-guest"]
    body = {"permissions": [{"_id": "add-user-to-joined-room", "roles": ["admin", "owner"]}]}
    refused(bot.post("permissions.update", body), 403)
    ok(admin.post("permissions.update", body))
    assert server.permission_roles("add-user-to-joined-room") == ["admin", "owner"]
    ok(admin.post("dev.businessHours", {"closed": True}))
    assert server.livechat_status("alice") == "not-available"
    deps = ok(bot.get("livechat/department"))["departments"]
    assert [d["name"] for d in deps] == ["Sales", "Support"]
    mine = ok(bot.get(f"livechat/agents/{server.user_id('omnicat')}/departments"))
    assert sorted(d["departmentId"] for d in mine["departments"]) == ["dep-sales", "dep-support"]
    refused(Api(server, "carol").get("livechat/department"), 403)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("addUsersToRoom", [None]),
        ("addUsersToRoom", [{"rid": 5, "users": ["bob"]}]),
        ("addUsersToRoom", [{"rid": "x", "users": "bob"}]),
        ("addUsersToRoom", [{"rid": "x", "users": ["nobody"]}]),
        ("removeUserFromRoom", [{"rid": "x"}]),
        ("removeUserFromRoom", []),
        ("loadHistory", [{"$date": 1}]),
        ("loadHistory", ["x", "not a date", "ten", None]),
        ("getUsersOfRoom", [[]]),
        ("getUsersOfRoom", ["nowhere", True]),
    ],
)
def test_new_methods_answer_garbage_with_meteor_errors(
    server: DevServer, method: str, params: list
) -> None:
    _uid, token = server.login_token("omnicat")
    with DDPTestClient(server.ws_url).connect() as c:
        c.login_resume(token)
        frame = c.call(method, *params)
        if "error" in frame:
            assert frame["error"]["error"] != 500, frame
        else:
            assert frame["result"] is False  # loadHistory of a room one cannot see


def test_livechat_state_survives_a_restart_with_a_state_file(tmp_path) -> None:
    path = tmp_path / "state.bin"
    srv = DevServer(SEED, state_path=path).start()
    try:
        bot_available(srv)
        token, room = visitor_room(srv, name="Kept", department="dep-sales")
        say(srv, token, room["_id"], "still there?")
        srv.grant("view-privileged-setting", "bot")
        srv.set_setting("Livechat_accept_chats_with_no_agents", True)
    finally:
        srv.stop()
    srv = DevServer(SEED, state_path=path).start()
    try:
        assert srv.visitor_room(token)["_id"] == room["_id"]
        assert history(srv, token, room["_id"])[0]["msg"] == "still there?"
        assert srv.members_of(room["_id"]) == ["omnicat"]
        assert "bot" in srv.permission_roles("view-privileged-setting")
        assert srv.setting("Livechat_accept_chats_with_no_agents") is True
        assert srv.livechat_status("omnicat") == "available"
    finally:
        srv.stop()
