"""Frames known by their bytes (`bot.rocketchat.raw_frames`): the bot's own echo and a room change
are dealt with undecoded when written as the dev server (and Rocket.Chat) write them, and any other
spelling of them is decoded as before, so the shortcut can skip work but never misread a frame."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_transport_client import Recorder
from test_transport_e2e import alice, server, wait_for  # noqa: F401  (fixtures)

from bot.rocketchat import ddp_socket, raw_frames
from bot.rocketchat.client import RocketChatClient
from bot.rocketchat.raw_frames import OWN, SUBSCRIPTION, known_frame


def _changed(collection: str, event: str, args: list[Any]) -> bytes:
    frame = {"msg": "changed", "collection": collection, "id": "id"}
    frame["fields"] = {"eventName": event, "args": args}
    return json.dumps(frame, separators=(",", ":")).encode()


MESSAGE = {"_id": "MsgId12345", "rid": "r1", "msg": "hi", "u": {"_id": "bot", "username": "b"}}
ROOM = {"_id": "RoomId1234", "t": "d", "lastMessage": {"_id": "other", "rid": "RoomId1234"}}


def test_the_bytes_tell_the_message_id_and_the_room_id() -> None:
    own = _changed("stream-room-messages", "__my_messages__", [MESSAGE])
    assert known_frame(own) == (OWN, "MsgId12345")
    raw = _changed("stream-notify-user", "uid/rooms-changed", ["updated", ROOM])
    assert known_frame(raw) == (raw_frames.ROOM, "RoomId1234")
    sub = {"_id": "S1", "rid": "RoomId1234", "t": "d", "unread": 1}
    updated = _changed("stream-notify-user", "uid/subscriptions-changed", ["updated", sub])
    assert known_frame(updated) == (SUBSCRIPTION, "")
    inserted = _changed("stream-notify-user", "uid/subscriptions-changed", ["inserted", sub])
    assert known_frame(inserted) is None  # a new room: decoded and told


@pytest.mark.parametrize(
    "raw",
    [
        # other key orders, other streams, spacing, an escaped id: decoded as any frame
        _changed("stream-room-messages", "__my_messages__", [{"rid": "r1", "_id": "MsgId12345"}]),
        _changed("stream-room-messages", "r1", [MESSAGE]),
        json.dumps({"msg": "changed", "collection": "stream-room-messages", "id": "id"}).encode(),
        _changed("stream-notify-user", "uid/subscriptions-changed", ["inserted", ROOM]),
        _changed("stream-notify-user", "uid/rooms-changed", ["updated", {"t": "d", "_id": "x"}]),
        _changed("stream-notify-user", "uid/rooms-changed", ["updated", {"_id": 'a"b'}]),
        _changed("stream-notify-user", "uid/rooms-changed", ["updated", {"_id": "a\\u00e9"}]),
        b'{"msg":"result","id":"1","result":{"_id":"MsgId12345"}}',
        b"",
        b"\xff\xfe garbage",
    ],
)
def test_any_other_spelling_is_left_to_the_decoder(raw: bytes) -> None:
    assert known_frame(raw) is None


class OwnIgnored(Recorder):
    ignores_own_messages = True
    ignores_subscription_updates = True


def test_against_the_dev_server_the_echo_is_not_decoded_and_room_changes_still_count(
    server: Any,  # noqa: F811
    alice: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[bytes] = []
    decode = ddp_socket.decode_frame

    def counting(raw: Any) -> Any:
        decoded.append(bytes(raw) if isinstance(raw, bytes) else raw.encode())
        return decode(raw)

    monkeypatch.setattr(ddp_socket, "decode_frame", counting)
    recorder = OwnIgnored()
    client = RocketChatClient(server.url, username="bot", password="bot-pw", listener=recorder)
    client.start()
    try:
        room = client.create_group("raw-frames", ["alice"], topic="old")
        assert client.room_info(room.id).topic == "old"  # cached from here on
        sent = client.send(room.id, "the bot says hi")
        assert sent is not None
        alice.send_message({"_id": "alice-after", "rid": room.id, "msg": "alice answers"})
        # alice's line comes after the bot's echo on the same socket: the echo has been read
        wait_for(lambda: any(m.id == "alice-after" for m in recorder.messages))
        assert not any(m.id == sent.id for m in recorder.messages)
        echo = f'"__my_messages__","args":[{{"_id":"{sent.id}"'.encode()
        assert not any(echo in raw for raw in decoded)
        assert any(b'"alice-after"' in raw for raw in decoded)  # others' lines are decoded
        assert not any(b'subscriptions-changed","args":["updated"' in raw for raw in decoded)
        assert any(action == "inserted" for action, _sub, _rid in recorder.subscriptions)
        # a change of the room, known from its bytes, still drops the cached copy
        server.state.update_room(server.state.rooms[room.id], topic="new")
        wait_for(lambda: client.room_info(room.id).topic == "new")
    finally:
        client.stop()


def test_a_room_the_bot_changes_itself_is_read_fresh_before_the_stream_says_so(
    server: Any,  # noqa: F811
    alice: Any,  # noqa: F811
) -> None:
    client = RocketChatClient(server.url, username="bot", password="bot-pw", listener=Recorder())
    client.start()
    try:
        room = client.create_group("fresh-topic", ["alice"], topic="old")
        assert client.room_info(room.id).topic == "old"
        # The stream's rooms-changed is held back (as when it comes late): only the bot's own
        # knowledge of its change may drop the cached copy.
        server.pause_delivery()
        client.set_topic(room.id, "new")
        assert client.room_info(room.id).topic == "new"
        client.archive(room.id)
        assert client.room_info(room.id).archived
        client.unarchive(room.id)
        assert not client.room_info(room.id).archived
    finally:
        server.resume_delivery()
        client.stop()
