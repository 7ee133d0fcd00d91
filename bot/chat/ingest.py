"""What the dispatcher and the conversation store share to ingest a burst of messages at once.

The busiest path of the bot is a plain message in a conversation room (no command, no edit): it
is stored and counts for the response metrics. The dispatcher handles a run of such messages (of
one room or of several: `KeyedSerialExecutor.submit_batch`) in three steps (see
`bot.dispatch.process.Processor.process_many`):

1. store them all, with the metrics, in ONE transaction: the `Routes.store_conversation_messages`
   hook (`RoomMessages.store_room_messages`), which returns one opaque note per message;
2. hand each message to the handler groups, in order, inside
   `prestored(notes)`: the followers (timers, canned responses) see every message as before,
   and the workflow's handler, finding the note, skips the storing it would otherwise do and
   only does what remains (auto-resume);
3. mark them processed and move the rooms' cursors, in ONE transaction.

Marks are still committed after every effect (step 3 comes last), so a kill -9 anywhere before
it replays the messages; step 1 is idempotent for that replay: the upsert is guarded by the
revision, and a message whose row already existed does not count for the metrics again.

The notes travel in a thread-local because the handler chain's signature is `(message, kind)`
and the wrappers between the dispatcher and the workflow pass only that.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bot.chat.types import Message

#: `prestored_note` for a message that step 1 did not store
NOT_STORED: Any = object()

_local = threading.local()


def key_of(message: Message) -> tuple[str, float]:
    """The key of a message's notes: its id and revision stamp."""
    return message.version


@contextmanager
def prestored(notes: Mapping[tuple[str, float], Any]) -> Iterator[None]:
    """While the handlers run on this thread, these messages (by `key_of`) are stored already."""
    previous = getattr(_local, "notes", None)
    _local.notes = notes
    try:
        yield
    finally:
        _local.notes = previous


def prestored_note(message: Message) -> Any:
    """The note step 1 left for this message, or `NOT_STORED`."""
    notes = getattr(_local, "notes", None)
    if not notes:
        return NOT_STORED
    return notes.get(key_of(message), NOT_STORED)
