"""`message_from_wire` reads every part a message may carry, and only what is well formed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.chat.types import UserRef
from bot.rocketchat.wire import WireFormatError, message_from_wire

T = {"$date": 1796664444351}
WHEN = datetime.fromtimestamp(1796664444.351, tz=UTC)


def test_a_plain_message_from_the_stream() -> None:
    data = {"_id": "M1", "rid": "R1", "msg": "/help", "ts": T, "_updatedAt": T,
            "u": {"_id": "U1", "username": "ann", "name": "Ann"}, "urls": [], "mentions": [],
            "md": [{"type": "PARAGRAPH", "value": []}]}  # fmt: skip
    message = message_from_wire(data, {"roomParticipant": True, "roomType": "d"})
    assert (message.id, message.rid, message.text, message.ts) == ("M1", "R1", "/help", WHEN)
    assert message.author == UserRef(id="U1", username="ann", name="Ann")
    assert message.updated_at == WHEN and message.edited_at is None and message.edited_by is None
    assert (message.room_type, message.room_participant, message.room_name) == ("d", True, None)
    assert message.attachments == message.files == message.mentions == ()
    assert (message.type, message.tmid, message.alias, message.bot) == (None, None, None, False)
    assert message.extra == {} and not message.from_visitor


def test_every_optional_part() -> None:
    data = {
        "_id": "M2", "rid": "R1", "msg": "see file", "ts": "2026-12-07T10:00:00.000Z",
        "u": {"_id": "V1", "username": "guest-1"}, "t": "uj", "tmid": "M0", "alias": "Bob",
        "bot": {"i": "x"}, "token": "visitor-token", "editedAt": T,
        "editedBy": {"_id": "U2", "username": "bo"},
        "attachments": [{"title": "a.pdf", "image_size": 7}, "not a dict"],
        "file": {"_id": "F0", "name": "old.txt"},
        "files": [{"_id": "F1", "name": "a.pdf", "size": 12}, {"name": "no id"}],
        "mentions": [{"_id": "U3", "username": "cy"}, {"name": "nobody"}],
        "comment": "closing", "customFields": {"k": "v"},
    }  # fmt: skip
    message = message_from_wire(data, {"roomName": "support", "roomParticipant": "yes"})
    assert message.ts == datetime(2026, 12, 7, 10, tzinfo=UTC)
    assert (message.type, message.tmid, message.alias, message.bot) == ("uj", "M0", "Bob", True)
    assert message.from_visitor and message.edited_at == WHEN and message.is_edit
    assert message.edited_by == UserRef(id="U2", username="bo", name=None)
    assert [(a.title, a.image_size) for a in message.attachments] == [("a.pdf", 7)]
    assert [(f.id, f.name, f.size) for f in message.files] == [("F1", "a.pdf", 12)]
    assert message.mentions == (UserRef(id="U3", username="cy", name=None),)
    assert message.extra == {"comment": "closing", "customFields": {"k": "v"}}
    assert (message.room_name, message.room_participant, message.room_type) == (
        "support",
        None,
        None,
    )


@pytest.mark.parametrize("files", [None, [], "garbage"])
def test_a_single_file_counts_when_there_is_no_list(files: Any) -> None:
    data = {"_id": "M3", "rid": "R1", "ts": T, "u": {"_id": "U1"}, "files": files,
            "file": {"_id": "F9", "name": "b.png", "type": "image/png"}, "mentions": "garbage",
            "attachments": {"not": "a list"}, "editedAt": None}  # fmt: skip
    message = message_from_wire(data)
    assert [(f.id, f.type) for f in message.files] == [("F9", "image/png")]
    assert message.mentions == message.attachments == () and message.text == ""
    assert message.edited_at is None


@pytest.mark.parametrize(
    "data",
    [
        {"rid": "R1", "ts": T, "u": {"_id": "U1"}},
        {"_id": "M4", "ts": T, "u": {"_id": "U1"}},
        {"_id": "M4", "rid": "R1", "ts": "not a date", "u": {"_id": "U1"}},
        {"_id": "M4", "rid": "R1", "ts": True, "u": {"_id": "U1"}},
        {"_id": "M4", "rid": "R1", "ts": T, "u": {}},
        "not an object",
    ],
)
def test_what_is_no_message_is_refused(data: Any) -> None:
    with pytest.raises(WireFormatError):
        message_from_wire(data)
