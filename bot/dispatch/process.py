"""The per-message path, on the room's worker: pipeline, handlers, then processed marks.

A burst of plain messages in conversation rooms (no command, no edit) is handled as a batch:
de-duplicated with one read, stored in one transaction, handed to the handler groups in order,
marked in one transaction (see `bot.chat.ingest`); the guarantees are the per-message ones.
Any other message goes through the middleware pipeline (`bot.dispatch.middleware`) alone.
Either way the processed marks and the room's cursor are written after the handlers ran.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.chat.effect_scope import effect_scope, message_key
from bot.chat.gates import Gate, collecting, settle_all
from bot.chat.ingest import prestored
from bot.chat.types import Message
from bot.cmd import Registry, parse_invocation
from bot.dispatch.handlers import HandlerGroups, Routes
from bot.dispatch.middleware import Event, Mark, Pipeline, is_stray_word
from bot.dispatch.rooms import ROOM_CONVERSATION, RoomBook, cursor_ts, revision_of

log = logging.getLogger("omnicat.app")


class Processor:
    def __init__(
        self,
        *,
        store: Any,
        rooms: RoomBook,
        registry: Registry,
        prefixes: Any,
        pipeline: Callable[[], Pipeline],
        groups: Callable[[], HandlerGroups],
        routes: Callable[[], Routes],
    ) -> None:
        self.store, self.rooms = store, rooms
        self.registry, self.prefixes = registry, prefixes
        self.pipeline, self.groups, self.routes = pipeline, groups, routes

    def process_many(self, messages: Sequence[Message]) -> list[str]:
        """Handle messages in order, synchronously; what happened to each.

        Plain messages of conversation rooms (any rooms) are gathered and go through
        `_process_run` together (a few transactions for all of them); any other message first
        finishes those, then goes through `process_one`: each room's order is kept.
        """
        results: list[str] = []
        run: list[Message] = []
        for message in messages:
            in_conversation = self._in_conversation(message)
            if self._batchable(message, in_conversation):
                run.append(message)
                # what `process_one` notes after the message: the next one's staleness
                self.rooms.note_cursor(message.rid, message.ts)
                continue
            if run:
                results += self._process_run(run)
                run = []
                in_conversation = None  # the run may have changed it: ask again
            results.append(self.process_one(message, in_conversation))
        if run:
            results += self._process_run(run)
        return results

    def _in_conversation(self, message: Message) -> bool | None:
        """Whether the message's room is a conversation room; None when nobody can tell (no
        conversation handler, or the bot's own message, which needs no routing).

        Asked once per message (it is a query for a room that is not one). A direct message
        room never is one: conversations live in private groups (or livechat rooms)."""
        routes = self.routes()
        if not routes.takes_conversations or self.rooms.is_own(message):
            return None
        if message.room_type == "d":
            return False
        return routes.is_conversation_room(message.rid)

    def _batchable(self, message: Message, in_conversation: bool | None) -> bool:
        """Whether the pipeline would take this message straight to the conversation group: not
        ours, not a system message or an edit, not stale, in a conversation room, no command."""
        if message.type is not None or message.is_edit or not in_conversation:
            return False
        if self.rooms.is_own(message) or self.rooms.is_stale(message):
            return False
        invocation = parse_invocation(message.text, self.prefixes, self.registry, bare=False)
        return invocation is None or is_stray_word(self.registry, invocation, ROOM_CONVERSATION)

    def process_one(self, message: Message, in_conversation: bool | None = None) -> str:
        event = Event(message, in_conversation=in_conversation)
        with collecting() as started:
            try:
                with effect_scope(message_key(message.id, revision_of(message))):
                    result = self.pipeline().run(event)
            except Exception:
                log.exception("handling message %s in %s failed", message.id, message.rid)
                result = "error"
        # what the handlers sent and did not wait for: finished before the mark is written
        held = started.close()
        self._after_handlers(event)
        self.rooms.note_cursor(message.rid, message.ts)
        # The bot's own messages move only the cursor in memory: catch-up from the last
        # message we acted on replays our own replies, which are ignored, and a command's
        # reply would otherwise cost a write transaction of its own.
        cursors = [] if result == "own" else [(message.rid, cursor_ts(message.ts), message.id)]
        if event.marks or cursors:
            try:
                # Written a moment later, with the marks of the commands around it (one
                # transaction for many: `bot.store.pending_marks`); processed meanwhile.
                self.record_processed(event.marks, cursors, soon=True, gates=held)
                held = []
            except Exception:
                log.warning(
                    "cannot mark %s in %s processed", message.id, message.rid, exc_info=True
                )
        settle_all(held)  # not handed over with a mark: finished here
        log.debug("message %s in %s: %s", message.id, message.rid, result)
        return result

    def _after_handlers(self, event: Event) -> None:
        """What had to wait for the handler's work to commit (a customer room's command is
        deleted now). Before the processed mark: a kill -9 between the two leaves a message
        that is gone from the room (nothing to replay, its work done), where the other order
        would leave a marked command in the customer's room for good."""
        for step in event.after_handlers:
            try:
                step()
            except Exception:
                log.warning("after handling %s failed", event.message.id, exc_info=True)

    def _process_run(self, run: list[Message]) -> list[str]:
        """Plain messages of conversation rooms, each room's in order (see
        `bot.chat.ingest`): de-duplicate with one read, store with one transaction, run
        the handlers, then mark them processed and advance the cursors with one transaction:
        marks after effects, as one by one."""
        keys = [(m.id, revision_of(m)) for m in run]
        try:
            done = self._processed_among(keys)
        except Exception:
            log.warning("cannot check %d message(s) as a batch", len(run), exc_info=True)
            return [self.process_one(m) for m in run]
        results: list[str] = []
        fresh: list[tuple[Message, str]] = []
        taken: set[tuple[str, str]] = set()
        for message, key in zip(run, keys, strict=True):
            if key in done or key in taken:
                results.append("duplicate")
                continue
            taken.add(key)
            fresh.append((message, key[1]))
            results.append("conversation")
        notes: Mapping[Any, Any] = {}
        store_messages = self.routes().store_conversation_messages
        if fresh and store_messages is not None:
            try:
                notes = store_messages([m for m, _ in fresh])
            except Exception:
                # the handlers store them one by one instead
                log.exception("storing %d message(s) as a batch failed", len(fresh))
        groups = self.groups()
        with prestored(notes):
            for index, message in enumerate(run):
                if results[index] == "duplicate":
                    continue
                try:
                    with effect_scope(message_key(message.id, revision_of(message))):
                        groups.dispatch(Event(message, kind=ROOM_CONVERSATION))
                except Exception:
                    log.exception("handling message %s in %s failed", message.id, message.rid)
                    results[index] = "error"
        newest: dict[str, Message] = {}  # per room the first of the newest, as one-by-one
        for message in run:
            self.rooms.note_cursor(message.rid, message.ts)
            known = newest.get(message.rid)
            if known is None or message.ts > known.ts:
                newest[message.rid] = message
        try:
            self.record_processed(
                [(m.id, rev, m.rid) for m, rev in fresh],
                [(rid, cursor_ts(m.ts), m.id) for rid, m in newest.items()],
            )
        except Exception:
            log.warning("cannot mark %d message(s) processed", len(fresh), exc_info=True)
        if log.isEnabledFor(logging.DEBUG):
            for message, result in zip(run, results, strict=True):
                log.debug("message %s in %s: %s", message.id, message.rid, result)
        return results

    def _processed_among(self, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        among = getattr(self.store, "processed_among", None)
        if among is not None:
            return set(among(keys))
        return {key for key in keys if self.store.is_processed(*key)}

    def record_processed(
        self,
        marks: list[Mark],
        cursors: list[tuple[str, datetime, str]],
        *,
        soon: bool = False,
        gates: Sequence[Gate] = (),
    ) -> None:
        """Marks and cursors written once `gates` settled (the store may keep both waiting)."""
        record = getattr(self.store, "record_processed", None)
        if record is not None:
            record(marks, cursors, soon=soon, gates=gates)
            return
        settle_all(list(gates))
        for mark in marks:
            self.store.mark_processed(*mark)
        for cursor in cursors:
            self.store.advance_cursor(*cursor)
