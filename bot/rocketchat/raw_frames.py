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

#: the three frames, as one pattern: one match per frame, whichever it is
_KNOWN = re.compile(
    rb'\{"msg":"changed","collection":"stream-(?:'
    rb'room-messages","id":"[^"\\]*","fields":\{"eventName":"__my_messages__",'
    rb'"args":\[\{"_id":"(?P<own>[^"\\]{1,64})"'
    rb'|notify-user","id":"[^"\\]*","fields":\{"eventName":"[^"\\]*/(?:'
    rb'rooms-changed","args":\["[a-z]{1,16}",\{"_id":"(?P<room>[^"\\]{1,64})"'
    rb'|(?P<subscription>subscriptions-changed)","args":\["updated",'
    rb"))"
)
#: what `known_frame` tells
OWN, ROOM, SUBSCRIPTION = "own", "room", "subscription"


def known_frame(raw: bytes) -> tuple[str, str] | None:
    """(OWN, the message id) for a `__my_messages__` frame; (ROOM, the room id) for a
    `<uid>/rooms-changed` one; (SUBSCRIPTION, "") for a `<uid>/subscriptions-changed` "updated"
    (one per message in each of the bot's rooms, its unread counts: a new room's "inserted" is
    decoded and told). None for any other frame, or one not written as servers write it."""
    found = _KNOWN.match(raw)
    if found is None:
        return None
    kind = found.lastgroup or SUBSCRIPTION
    value = found.group(kind) if kind != SUBSCRIPTION else b""
    return kind, value.decode("ascii", "replace")
