"""Unit tests of the REST adapter's livechat calls against mocked HTTP (`responses`)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from bot.chat.errors import NotAllowed, NotFound, ServerError
from bot.rocketchat.rest import RestClient
from bot.rocketchat.wire import message_from_wire, room_from_wire, subscription_from_wire

URL = "http://rc.test"
API = URL + "/api/v1/"


def client() -> RestClient:
    return RestClient(URL, user_id="bot1", token="pat", sleep=lambda _s: None)


def lroom(rid: str, **extra: object) -> dict:
    return {
        "_id": rid,
        "t": "l",
        "fname": "Vera Visitor",
        "v": {"_id": "v1", "username": "guest-1", "token": "secret", "status": "online"},
        "servedBy": {"_id": "bot1", "username": "omnicat"},
        "departmentId": "dep-1",
        "source": {"type": "widget"},
        "open": True,
        **extra,
    }


@responses.activate
def test_livechat_rooms_pages_through_every_room_served_by_the_bot() -> None:
    responses.get(
        API + "livechat/rooms",
        json={"rooms": [lroom("L1"), lroom("L2")], "offset": 0, "count": 2, "total": 3},
    )
    responses.get(API + "livechat/rooms", json={"rooms": [lroom("L3")], "total": 3})
    rooms = client().livechat_rooms("bot1", page=2)
    assert [r.id for r in rooms] == ["L1", "L2", "L3"]
    first = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert first["agents[]"] == ["bot1"] and first["open"] == ["true"]
    assert parse_qs(urlsplit(responses.calls[1].request.url).query)["offset"] == ["2"]
    room = rooms[0]
    assert room.is_livechat and room.visitor and room.visitor.username == "guest-1"
    assert room.served_by and room.served_by.username == "omnicat"
    assert (room.department_id, room.source_type, room.open) == ("dep-1", "widget", True)
    assert "secret" not in repr(room.visitor)  # the visitor's credential never reaches logs


@responses.activate
def test_forward_refusal_carries_rocket_chats_error_key() -> None:
    responses.post(
        API + "livechat/room.forward",
        status=400,
        json={"success": False, "error": "error-user-is-offline"},
    )
    with pytest.raises(ServerError) as caught:
        client().livechat_forward("L1", "u-bob", "please")
    assert caught.value.key == "error-user-is-offline"
    body = json.loads(responses.calls[0].request.body)
    assert body == {"roomId": "L1", "userId": "u-bob", "comment": "please"}


@responses.activate
def test_close_by_user_sends_comment_tags_and_no_visitor_transcript() -> None:
    responses.post(API + "livechat/room.closeByUser", json={"success": True})
    client().livechat_close("L1", "solved", ["billing"])
    body = json.loads(responses.calls[0].request.body)
    assert body == {
        "rid": "L1",
        "comment": "solved",
        "transcriptEmail": {"sendToVisitor": False},
        "tags": ["billing"],
    }


@responses.activate
def test_method_call_raises_the_methods_meteor_error_typed() -> None:
    error = {"msg": "result", "id": "1", "error": {"error": "error-not-allowed", "reason": "No"}}
    responses.post(
        API + "method.call/addUsersToRoom",
        json={"success": True, "message": json.dumps(error)},
    )
    with pytest.raises(NotAllowed) as caught:
        client().method_call("addUsersToRoom", {"rid": "L1", "users": ["alice"]})
    assert caught.value.key == "error-not-allowed"
    sent = json.loads(json.loads(responses.calls[0].request.body)["message"])
    assert sent["method"] == "addUsersToRoom" and sent["params"] == [
        {"rid": "L1", "users": ["alice"]}
    ]


@responses.activate
def test_method_call_not_found_is_not_found() -> None:
    responses.post(API + "method.call/addUsersToRoom", status=404, json={"success": False})
    with pytest.raises(NotFound):
        client().method_call("addUsersToRoom", {"rid": "L1", "users": ["alice"]})


@responses.activate
def test_agent_status_and_livechat_messages() -> None:
    responses.post(API + "livechat/agent.status", json={"status": "available", "success": True})
    assert client().livechat_agent_status() == "available"
    msg = {
        "_id": "m1",
        "rid": "L1",
        "msg": "hello",
        "ts": "2026-01-01T10:00:00.000Z",
        "u": {"_id": "v1", "username": "guest-1"},
        "token": "secret",
        "alias": "Vera Visitor",
    }
    responses.get(API + "livechat/L1/messages", json={"messages": [msg], "total": 1})
    (got,) = client().livechat_messages("L1")
    assert got.from_visitor and got.alias == "Vera Visitor"
    assert parse_qs(urlsplit(responses.calls[1].request.url).query)["sort"] == ['{"ts":1}']


def test_wire_models_read_the_livechat_fields() -> None:
    sub = subscription_from_wire(
        {"_id": "s1", "rid": "L1", "t": "l", "v": lroom("L1")["v"], "department": "dep-1"}
    )
    assert sub.type == "l" and sub.visitor and sub.visitor.id == "v1"
    assert sub.department_id == "dep-1"
    closed = room_from_wire(lroom("L1", open=False, closer="visitor"))
    assert not closed.open and closed.closer == "visitor"
    agent_line = message_from_wire(
        {"_id": "m2", "rid": "L1", "msg": "hi", "ts": "2026-01-01T10:00:00Z", "u": {"_id": "a"}}
    )
    assert not agent_line.from_visitor
