"""Frames the bot reads by the dozen and needs next to nothing from, known by their bytes.

Per command the server sends the bot its own reply back on `__my_messages__` (the largest frame
it reads: the whole message, its markdown tree too), the reply's and the command's rooms in
`rooms-changed` (each with its last message), and its subscription's new unread counts in
`subscriptions-changed`. Of those the bot needs the room id of a room change and nothing else.
Decoding them was most of the reader's decoding, so they are recognised here before decoding,
by the way servers write them (Meteor's DDP `changed` frame, a document's `_id` first). A frame
written any other way does not match and is decoded as before, so a match can only skip work,
never read a frame wrongly.
"""

from __future__ import annotations

import re

_OWN_ID = re.compile(
    rb'\{"msg":"changed","collection":"stream-room-messages","id":"[^"\\]*",'
    rb'"fields":\{"eventName":"__my_messages__","args":\[\{"_id":"([^"\\]{1,64})"'
)
_CHANGED_ROOM = re.compile(
    rb'\{"msg":"changed","collection":"stream-notify-user","id":"[^"\\]*",'
    rb'"fields":\{"eventName":"[^"\\]*/rooms-changed","args":\["[a-z]{1,16}",'
    rb'\{"_id":"([^"\\]{1,64})"'
)
_SUBSCRIPTION_UPDATED = re.compile(
    rb'\{"msg":"changed","collection":"stream-notify-user","id":"[^"\\]*",'
    rb'"fields":\{"eventName":"[^"\\]*/subscriptions-changed","args":\["updated",'
)


def is_subscription_update(raw: bytes) -> bool:
    """Whether this is a `<uid>/subscriptions-changed` "updated" frame written as servers write
    it: one per message in each of the bot's rooms (its unread counts), of no use to a listener
    that ignores subscription updates."""
    return _SUBSCRIPTION_UPDATED.match(raw) is not None


def stream_message_id(raw: bytes) -> str | None:
    """The id of the message in a `__my_messages__` frame, when the frame starts as servers
    write it; else None (decode it)."""
    found = _OWN_ID.match(raw)
    return found.group(1).decode("ascii", "replace") if found else None


def changed_room_id(raw: bytes) -> str | None:
    """The room id of a `<uid>/rooms-changed` frame written as servers write it; else None."""
    found = _CHANGED_ROOM.match(raw)
    return found.group(1).decode("ascii", "replace") if found else None
