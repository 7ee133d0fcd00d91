"""The dev server's visitor side as the real livechat widget meets it: REST bodies, status codes
and error keys, and the visitor's realtime, each checked against the Rocket.Chat source it comes
from (named in the test: `app/livechat/server/api/v1/*.ts` and the end-to-end API tests under
`apps/meteor/tests/end-to-end/api/livechat/`)."""

from __future__ import annotations

import time

import requests
from ddp_client import DDPTestClient
from test_devserver_livechat import Api, bot_available, ok, refused, server_fixture, visitor_room

from bot.devserver import DevServer

__all__ = ["server_fixture"]


def test_config_without_token_is_the_widget_settings_rc_config_ts(server: DevServer) -> None:
    """RC `api/v1/config.ts` + `api/lib/livechat.ts settings()`: no login, the settings groups,
    `online` from the agents; the enabled departments that have agents."""
    r = Api(server).get("livechat/config")
    assert r.headers["Content-Type"] == "application/json"
    config = ok(r)["config"]
    assert config["enabled"] is True and config["online"] is False  # the bot is not available
    assert set(config) >= {"settings", "theme", "messages", "survey", "triggers", "departments"}
    assert config["settings"]["registrationForm"] is True
    assert config["settings"]["transcript"] is False
    assert config["theme"]["title"] == "Rocket.Chat" and config["theme"]["position"] == "right"
    assert config["messages"]["transcriptMessage"] == "Would you like a copy of this chat emailed?"
    assert {d["name"] for d in config["departments"]} == {"Support", "Sales"}
    assert "guest" not in config and "room" not in config
    bot_available(server)
    assert ok(Api(server).get("livechat/config"))["config"]["online"] is True
    server.set_setting("Livechat_enabled", False)
    assert ok(Api(server).get("livechat/config")) == {"config": {"enabled": False}, "success": True}


def test_config_with_token_has_guest_room_and_agent_rc_config_ts(server: DevServer) -> None:
    bot_available(server)
    token, room = visitor_room(server, name="Vera", department="dep-support")
    config = ok(Api(server).get("livechat/config", token=token))["config"]
    assert config["guest"]["token"] == token and config["guest"]["name"] == "Vera"
    assert config["room"]["_id"] == room["_id"] and config["room"]["open"] is True
    assert config["agent"]["username"] == "omnicat"
    assert ok(Api(server).get("livechat/config", token="nobody"))["config"].get("guest") is None


def test_visitor_by_token_get_and_delete_rc_visitor_ts(server: DevServer) -> None:
    """RC `api/v1/visitor.ts` `livechat/visitor/:token`: `Meteor.Error('invalid-token')` (no
    reason: `[invalid-token]`), and no deletion while the visitor has an open room."""
    bot_available(server)
    api = Api(server)
    assert refused(api.get("livechat/visitor/nope")) == {
        "success": False,
        "error": "[invalid-token]",
        "errorType": "invalid-token",
    }
    token, room = visitor_room(server, name="Vera")
    assert ok(api.get(f"livechat/visitor/{token}"))["visitor"]["token"] == token
    gone = requests.delete(f"{api.base}livechat/visitor/{token}", timeout=10)
    assert refused(gone) == {
        "success": False,
        "error": "Cannot remove visitors with opened rooms [visitor-has-open-rooms]",
        "errorType": "visitor-has-open-rooms",
    }
    ok(api.post("livechat/room.close", {"rid": room["_id"], "token": token}))
    body = ok(requests.delete(f"{api.base}livechat/visitor/{token}", timeout=10))
    assert body["visitor"]["_id"] and body["visitor"]["ts"].endswith("Z")
    refused(api.get(f"livechat/visitor/{token}"))


def test_visitor_status_and_custom_fields_rc_visitor_and_custom_field_ts(
    server: DevServer,
) -> None:
    """RC `api/v1/visitor.ts` `visitor.status` → `{token, status}`; `customField.ts`:
    `custom.field` → `{field}`, `custom.fields` → `{fields: [{Key, value, overwrite}]}`."""
    bot_available(server)
    api = Api(server)
    token, room = visitor_room(server, name="Vera")
    assert ok(api.post("livechat/visitor.status", {"token": token, "status": "away"})) == {
        "token": token,
        "status": "away",
        "success": True,
    }
    assert server.room(room["_id"])["v"]["status"] == "away"
    assert refused(api.post("livechat/visitor.status", {"token": "x", "status": "away"})) == {
        "success": False,
        "error": "invalid-token",
    }
    field = {"token": token, "key": "plan", "value": "gold", "overwrite": True}
    assert ok(api.post("livechat/custom.field", field))["field"] == {
        "key": "plan",
        "value": "gold",
        "overwrite": True,
    }
    keep = {"key": "plan", "value": "silver", "overwrite": False}
    body = ok(api.post("livechat/custom.fields", {"token": token, "customFields": [keep]}))
    assert body["fields"] == [{"Key": "plan", "value": "silver", "overwrite": False}]
    visitor = ok(api.get(f"livechat/visitor/{token}"))["visitor"]
    assert visitor["livechatData"] == {"plan": "gold"}  # overwrite false keeps the set value


def test_page_visited_only_as_a_message_when_asked_rc_page_visited_ts(server: DevServer) -> None:
    """RC `api/v1/pageVisited.ts`: `{}` unless `Livechat_Visitor_navigation_as_a_message`;
    then a `livechat_navigation_history` message and `{page: {msg, navigation}}`."""
    bot_available(server)
    api = Api(server)
    token, room = visitor_room(server, name="Vera")
    page = {"change": "url", "title": "Pricing", "location": {"href": "https://x.test/p"}}
    body = {"token": token, "rid": room["_id"], "pageInfo": page}
    assert ok(api.post("livechat/page.visited", body)) == {"success": True}
    server.set_setting("Livechat_Visitor_navigation_as_a_message", True)
    got = ok(api.post("livechat/page.visited", body))["page"]
    assert got["msg"] == "Pricing - https://x.test/p" and got["navigation"]["page"] == page
    pages = ok(Api(server, "admin").get(f"livechat/visitors.pagesVisited/{room['_id']}"))
    assert [p["msg"] for p in pages["pages"]] == ["Pricing - https://x.test/p"]


def test_transcript_and_offline_message_rc_transcript_and_offline_message_ts(
    server: DevServer,
) -> None:
    """RC `api/v1/transcript.ts`: `{message: 'Livechat transcript sent'}`, any failure
    `Error sending livechat transcript`; `offlineMessage.ts`: `Livechat offline message sent`."""
    bot_available(server)
    api = Api(server)
    token, room = visitor_room(server, name="Vera")
    body = {"token": token, "rid": room["_id"], "email": "vera@example.test"}
    assert ok(api.post("livechat/transcript", body)) == {
        "message": "Livechat transcript sent",
        "success": True,
    }
    assert refused(api.post("livechat/transcript", {**body, "token": "other"})) == {
        "success": False,
        "error": "Error sending livechat transcript",
    }
    assert refused(api.post("livechat/transcript", {"token": token}))["errorType"] == (
        "invalid-params"
    )
    offline = {"name": "Vera", "email": "vera@example.test", "message": "Call me back"}
    assert ok(api.post("livechat/offline.message", offline)) == {
        "message": "Livechat offline message sent",
        "success": True,
    }
    assert [m["kind"] for m in server.livechat.outbox] == ["transcript", "offline"]
    assert any(m.get("t") == "livechat_transcript_history" for m in server.messages(room["_id"]))


def test_message_by_id_and_agent_next_rc_message_and_agent_ts(server: DevServer) -> None:
    """RC `api/v1/message.ts` GET `livechat/message/:_id`; `agent.ts` `agent.next/:token`:
    `{}` with an open room, `agent-not-found` when no agent would be chosen."""
    bot_available(server)
    api = Api(server)
    token, room = visitor_room(server, name="Vera")
    sent = ok(api.post("livechat/message", {"token": token, "rid": room["_id"], "msg": "hi"}))
    mid = sent["message"]["_id"]
    got = ok(api.get(f"livechat/message/{mid}", token=token, rid=room["_id"]))["message"]
    assert got["_id"] == mid and got["msg"] == "hi"
    assert refused(api.get("livechat/message/nope", token=token, rid=room["_id"])) == {
        "success": False,
        "error": "invalid-message",
    }
    assert ok(api.get(f"livechat/agent.next/{token}")) == {"success": True}
    server.set_setting("Livechat_Routing_Method", "Manual_Selection")
    assert refused(api.get("livechat/agent.next/someone-new")) == {
        "success": False,
        "error": "agent-not-found",
    }


def test_widget_cookies_make_the_source_rc_is_widget(server: DevServer) -> None:
    """RC `api/helpers/isWidget.ts` and the end-to-end test 'should properly read widget
    cookies': both `rc_room_type=l` and `rc_is_widget=t`, else `api`."""
    bot_available(server)
    api = Api(server)
    for token, cookies, source in (
        ("tok-w1", {"rc_room_type": "l", "rc_is_widget": "t"}, "widget"),
        ("tok-w2", {"rc_is_widget": "t"}, "api"),
    ):
        ok(api.post("livechat/visitor", {"visitor": {"token": token}}))
        r = requests.get(f"{api.base}livechat/room", params={"token": token}, cookies=cookies)
        assert ok(r)["room"]["source"]["type"] == source


def test_set_up_connection_and_visitor_streams_rc_set_up_connection_ts(
    server: DevServer,
) -> None:
    """RC `methods/setUpConnection.ts` (`{token}`, no result; offline when the socket closes)
    and the streams a visitor may read: its room's messages, typing, deletions and
    `stream-livechat-room`; another room's are refused."""
    bot_available(server)
    token, room = visitor_room(server, name="Vera")
    rid = room["_id"]
    _, other = visitor_room(server, name="Otto")
    agent = DDPTestClient(server.ws_url).connect("1")
    agent.login_password("omnicat", "omnicat-dev")
    agent.sub("stream-notify-room", f"{rid}/typing", False)
    with DDPTestClient(server.ws_url).connect("1") as widget:
        frame = widget.call("livechat:setUpConnection", {"token": token})
        assert "result" not in frame and "error" not in frame
        assert widget.call("livechat:setUpConnection", "x")["error"]["error"] == 400
        args = {"useCollection": False, "args": [{"token": token, "visitorToken": token}]}
        for name, event in (
            ("stream-room-messages", rid),
            ("stream-notify-room", f"{rid}/typing"),
            ("stream-notify-room", f"{rid}/deleteMessage"),
            ("stream-livechat-room", rid),
        ):
            assert widget.sub(name, event, args)[1]["msg"] == "ready", (name, event)
        refusal = widget.sub("stream-room-messages", other["_id"], args)[1]
        assert refusal["msg"] == "nosub" and refusal["error"]["error"] == "not-allowed"
        # the visitor's typing reaches the agents, without its token
        username = room["v"]["username"]
        widget.result("stream-notify-room", f"{rid}/typing", username, True, {"token": token})
        assert agent.wait_event("stream-notify-room", f"{rid}/typing") == [username, True]
        # an agent's message reaches the widget live
        ok(Api(server, "omnicat").post("chat.sendMessage", {"message": {"rid": rid, "msg": "hi"}}))
        assert widget.wait_event("stream-room-messages", rid, lambda a: a[0]["msg"] == "hi")
        assert server.visitor_listening(rid)
    agent.close()
    # RC's connection.onClose: the visitor goes offline with its socket
    deadline = time.monotonic() + 5
    while server.room(rid)["v"]["status"] != "offline" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.room(rid)["v"]["status"] == "offline"


def test_agent_data_on_the_livechat_room_stream_rc_dispatch_agent_delegated(
    server: DevServer,
) -> None:
    """RC `lib/Helper.ts dispatchAgentDelegated`: `stream-livechat-room <rid>`
    `{type: 'agentData', data: agent}` when an agent takes the room."""
    server.set_setting("Livechat_Routing_Method", "Manual_Selection")
    server.set_setting("Livechat_assign_new_conversation_to_bot", False)
    server.set_presence("bob", "online")
    token, room = visitor_room(server, name="Vera", department="dep-support")
    with DDPTestClient(server.ws_url).connect("1") as widget:
        widget.call("livechat:setUpConnection", {"token": token})
        widget.sub("stream-livechat-room", room["_id"], {"useCollection": False, "args": []})
        inquiry = ok(Api(server, "bob").get("livechat/inquiries.getOne", roomId=room["_id"]))
        ok(
            Api(server, "bob").post(
                "livechat/inquiries.take", {"inquiryId": inquiry["inquiry"]["_id"]}
            )
        )
        (payload,) = widget.wait_event("stream-livechat-room", room["_id"])
        assert payload["type"] == "agentData" and payload["data"]["username"] == "bob"


def test_avatar_is_an_initial_svg_rc_avatar_server(server: DevServer) -> None:
    """RC `server/routes/avatar`: with no uploaded image, the initial as an SVG for any name."""
    r = requests.get(f"{server.url}/avatar/Vera%20Visitor", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("image/svg+xml")
    assert ">V</text>" in r.text


def test_room_survey_stores_the_known_answers_rc_room_ts(server: DevServer) -> None:
    """RC `api/v1/room.ts` `livechat/room.survey` and its end-to-end test (`rooms.ts`,
    describe 'livechat/room.survey'): the answers the survey settings know, plus
    `additionalFeedback`, become the room's `surveyFeedback` (a `$set`: the last survey wins),
    also once the room is closed; unknown names or values are dropped, none left is
    `invalid-data`."""
    bot_available(server)
    api = Api(server)
    token, room = visitor_room(server, name="Vera")
    rid = room["_id"]
    survey = ok(api.get("livechat/config"))["config"]["survey"]
    assert survey == {
        "items": ["satisfaction", "agentKnowledge", "agentResposiveness", "agentFriendliness"],
        "values": ["1", "2", "3", "4", "5"],
    }
    assert refused(api.post("livechat/room.survey", {"token": token, "rid": rid}))["error"] == (
        "must have required property 'data' [invalid-params]"
    )
    answer = [{"name": "question", "value": "answer"}]
    body = {"token": "invalid-token", "rid": rid, "data": answer}
    assert refused(api.post("livechat/room.survey", body))["error"] == "invalid-token"
    body = {"token": token, "rid": "invalid-rid", "data": answer}
    assert refused(api.post("livechat/room.survey", body))["error"] == "invalid-room"
    other, _ = visitor_room(server, name="Otto")  # another visitor's token: not their room
    body = {"token": other, "rid": rid, "data": answer}
    assert refused(api.post("livechat/room.survey", body))["error"] == "invalid-room"
    body = {"token": token, "rid": rid, "data": [*answer, {"name": "satisfaction", "value": "9"}]}
    assert refused(api.post("livechat/room.survey", body))["error"] == "invalid-data"
    assert "surveyFeedback" not in server.state.room(rid)

    data = [
        {"name": "satisfaction", "value": "5"},
        {"name": "agentKnowledge", "value": "3"},
        {"name": "question", "value": "answer"},
    ]
    assert ok(api.post("livechat/room.survey", {"token": token, "rid": rid, "data": data})) == {
        "rid": rid,
        "data": {"satisfaction": "5", "agentKnowledge": "3"},
        "success": True,
    }
    assert server.state.room(rid)["surveyFeedback"] == {"satisfaction": "5", "agentKnowledge": "3"}
    # after the close, as the widget would send it: the room is found closed, the last wins
    assert ok(api.post("livechat/room.close", {"rid": rid, "token": token}))
    data = [
        {"name": "satisfaction", "value": "2"},
        {"name": "additionalFeedback", "value": "slow answers"},
    ]
    ok(api.post("livechat/room.survey", {"token": token, "rid": rid, "data": data}))
    assert server.state.room(rid)["surveyFeedback"] == {
        "satisfaction": "2",
        "additionalFeedback": "slow answers",
    }
    agent = Api(server, "omnicat")
    assert ok(agent.get("rooms.info", roomId=rid))["room"]["surveyFeedback"]["satisfaction"] == "2"
