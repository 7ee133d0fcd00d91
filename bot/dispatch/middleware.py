"""The middleware pipeline every message goes through before its handlers (after Bolt's chain).

Each step is one small class whose `process(event, next)` either answers for the message (a
short result such as `"own"` or `"duplicate"`, for logs and tests) or calls `next()` to pass it
on; the last `next()` hands the event to the handler groups (`bot.dispatch.handlers`). The
chain is built in one place, `standard_pipeline`, in the order the guarantees need:

1. `IgnoreOwn`: the bot's own messages (every reply comes back on our stream);
2. `IgnoreSystem`: system messages nobody uses (`system_types` are kept);
3. `Dedupe`: (message id, revision) already processed; otherwise its mark is appended to
   `event.marks`, written by the caller after the handlers ran (at-least-once across crashes);
4. `Classify`: the room's kind and the command in the text; system messages and edits go to the
   conversation record and never run a command;
5. `Stale`: a message from well before the room's cursor that we never processed;
6. `RateLimit`: the per-user command limit (`bot.dispatch.ratelimit`); catch-up replays exempt.
   A refused command's message is handed to `Routes.refused_command` after the handlers (typed
   in a customer room, it is deleted like one that ran).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.chat.port import ChatPort
from bot.chat.types import Message
from bot.cmd import Context, Invocation, Registry, did_you_mean, parse_invocation
from bot.dispatch.meter import Meter
from bot.dispatch.ratelimit import CommandLimit
from bot.dispatch.rooms import ROOM_DM, RoomBook, revision_of

log = logging.getLogger("omnicat.app")

Mark = tuple[str, str, str]  # (message id, revision, rid)


@dataclass
class Event:
    """One message on its way through the pipeline, and what the steps found out about it."""

    message: Message
    marks: list[Mark] = field(default_factory=list)
    #: whether the room is a conversation room when the caller asked already (None: ask)
    in_conversation: bool | None = None
    kind: str = ""
    #: the command in the text (None: no command, or a stray word)
    invocation: Invocation | None = None
    #: for a bare DM word: the rate limit, asked once it turns out to be a command
    admit: Callable[[Context], bool] | None = None
    seen_before: bool = False
    stale: bool = False
    #: what must wait until the handler's work has committed, run by the caller after the
    #: handlers and before the processed marks: deleting a command typed in a customer room
    #: (deleted earlier, a kill -9 before the commit would lose it: catch-up replays from the
    #: room's history, and it is no longer there)
    after_handlers: list[Callable[[], None]] = field(default_factory=list)


Next = Callable[[], str]
#: what becomes of a command message the rate limit refused: (the message, its room's kind)
RefusedHook = Callable[[Message, str], None]


class Middleware(Protocol):
    def process(self, event: Event, next: Next) -> str: ...


class Pipeline:
    """The steps in order, then `endpoint` (the handler groups)."""

    def __init__(self, steps: Sequence[Middleware], endpoint: Callable[[Event], str]) -> None:
        self.steps = tuple(steps)
        self.endpoint = endpoint

    def run(self, event: Event) -> str:
        return self._call(0, event)

    def _call(self, index: int, event: Event) -> str:
        if index == len(self.steps):
            return self.endpoint(event)
        return self.steps[index].process(event, lambda: self._call(index + 1, event))


def is_stray_word(registry: Registry, invocation: Invocation, kind: str) -> bool:
    """An unknown `/word` outside the DM that looks like no command (a contact's `/shrug`):
    text for the conversation, not an "Unknown command" reply in someone's room."""
    if kind == ROOM_DM or invocation.word in registry:
        return False
    words = [w for c in registry if not c.hidden for w in (c.name, *c.aliases)]
    return not did_you_mean(invocation.word, words)


class IgnoreOwn:
    def __init__(self, rooms: RoomBook) -> None:
        self.rooms = rooms

    def process(self, event: Event, next: Next) -> str:
        return "own" if self.rooms.is_own(event.message) else next()


class IgnoreSystem:
    def __init__(self, system_types: frozenset[str]) -> None:
        self.system_types = system_types

    def process(self, event: Event, next: Next) -> str:
        kind = event.message.type
        return "system" if kind is not None and kind not in self.system_types else next()


class Dedupe:
    """Its mark goes to `event.marks` for the caller to write after the effects, also when the
    handler raises. After, not before: a crash (kill -9) in between replays the message from
    history on the next start, where marking first would lose it for good (a command never
    answered, a contact's first message never opening a conversation). At-least-once is safe
    because every transition is a compare-and-set: a replay repeats at most a reply. Within one
    process the room's serial queue means no two copies of a message are ever handled at once."""

    def __init__(self, store: Any, rooms: RoomBook) -> None:
        self.store, self.rooms = store, rooms

    def process(self, event: Event, next: Next) -> str:
        message = event.message
        event.seen_before = self._seen_before(message)
        event.stale = self.rooms.is_stale(message)
        revision = revision_of(message)
        if self.store.is_processed(message.id, revision):
            return "duplicate"
        event.marks.append((message.id, revision, message.rid))
        return next()

    def _seen_before(self, message: Message) -> bool:
        """Whether any revision of this message was processed (edits of unseen messages count
        as new messages)."""
        if message.edited_at is None:
            return False
        is_processed = getattr(self.store, "is_processed", None)
        if is_processed is None:
            return True
        return bool(is_processed(message.id))


class Classify:
    """The room's kind and the command. Edits never run commands: an edit or deletion of a
    message already seen goes to the conversation record; the first sight of an edited
    non-command message (sent and edited while the bot was away) counts as a new message."""

    def __init__(
        self,
        rooms: RoomBook,
        registry: Registry,
        prefixes: Any,
        to_conversation: Callable[[Event], str],
    ) -> None:
        self.rooms, self.registry, self.prefixes = rooms, registry, prefixes
        self.to_conversation = to_conversation

    def process(self, event: Event, next: Next) -> str:
        message = event.message
        kind = event.kind = self.rooms.kind(message, event.in_conversation)
        if message.type is not None:  # deletions and membership changes
            return self.to_conversation(event)
        invocation = parse_invocation(
            message.text, self.prefixes, self.registry, bare=kind == ROOM_DM
        )
        if message.is_edit and (event.seen_before or event.stale or invocation is not None):
            # an edit never (re)runs a command; the conversation record follows edits
            return "edited-command" if invocation else self.to_conversation(event)
        if invocation is not None and not is_stray_word(self.registry, invocation, kind):
            event.invocation = invocation
        return next()


class Stale:
    def process(self, event: Event, next: Next) -> str:
        return "stale" if event.stale else next()


class RateLimit:
    """The per-user command rate limit: a refused command is answered with what did not run and
    when to send it again, at once or in a summary.

    Commands replayed by catch-up are exempt and not counted: they were sent while the bot was
    away, so counting them by when we get to them would see a burst nobody sent now, and a
    refused replay is marked processed, so it would never be answered. The limit is there to
    stop a live flood of replies; a live message is never a replay (it arrives through
    `on_message`, after the room's catch-up job). Only commands come here: a contact's messages
    (and a bare DM word that is no command) never do. A prefixed line counts even when it fails
    (no reply floods); a bare DM word counts only once it turns out to be a command, so a chatty
    contact is never rate-limited. The notices go to the sender's DM with the bot (`place`),
    never into the room where a customer reads what the agent typed.
    """

    def __init__(
        self,
        limit: CommandLimit,
        chat: Callable[[], ChatPort | None],
        replaying: threading.local,
        meter: Meter,
        refused: Callable[[], RefusedHook | None] = lambda: None,
    ) -> None:
        self.limit, self.chat, self.replaying, self.meter = limit, chat, replaying, meter
        self.refused = refused

    def process(self, event: Event, next: Next) -> str:
        invocation = event.invocation
        if invocation is None:
            return next()
        message = event.message
        if invocation.prefix == "":
            event.admit = lambda _ctx: self.admit(message, event.kind) or self._dispose(event)
        elif not self.admit(message, event.kind):
            self.meter.command(invocation.word, "rate_limited", None)
            self._dispose(event)
            return "command:rate_limited"
        return next()

    def _dispose(self, event: Event) -> bool:
        """A refused command's message goes the way of one that ran (`Routes.refused_command`:
        typed in a customer room, it is deleted), after the handlers and before the processed
        mark, like any command's (`Event.after_handlers`). False: it did not run."""
        hook = self.refused()
        if hook is not None:
            message, kind = event.message, event.kind
            event.after_handlers.append(lambda: hook(message, kind))
        return False

    def admit(self, message: Message, kind: str = ROOM_DM) -> bool:
        if getattr(self.replaying, "active", False):
            return True
        who = message.author.id or message.author.username
        chat = self.chat()
        # where to tell them, worked out only for a refusal (it may open a DM)
        found: list[tuple[str, str | None] | None] = []

        def place() -> tuple[str, str | None] | None:
            found.append(self.place(message, kind, chat))
            return found[0]

        verdict = self.limit.admit(who, message.text, place)
        if verdict.notice is not None and chat is not None and found and found[0] is not None:
            send_notice(chat, found[0][0], found[0][1], verdict.notice)
        return verdict.allowed

    @staticmethod
    def place(message: Message, kind: str, chat: ChatPort | None) -> tuple[str, str | None] | None:
        """Where the sender reads what did not run: where they typed it in their DM with the
        bot; typed anywhere else (a customer's room, a channel), at the top level of that DM,
        never in a room others read (issue 16). None: that DM cannot be opened (no notice)."""
        if kind == ROOM_DM or chat is None:
            return (message.rid, message.tmid)
        try:
            return (chat.dm_room(message.author.username), None)
        except Exception:
            log.warning(
                "cannot open @%s's DM for a refusal", message.author.username, exc_info=True
            )
            return None


def send_notice(chat: ChatPort, rid: str, tmid: str | None, text: str) -> None:
    try:
        if tmid:
            chat.send(rid, text, tmid=tmid)
        else:
            chat.send(rid, text)
    except Exception:
        log.warning("cannot tell %s that commands were refused", rid, exc_info=True)


def standard_pipeline(
    *,
    rooms: RoomBook,
    store: Any,
    registry: Registry,
    prefixes: Any,
    system_types: frozenset[str],
    limit: CommandLimit,
    chat: Callable[[], ChatPort | None],
    replaying: threading.local,
    meter: Meter,
    handlers: Callable[[Event], str],
    to_conversation: Callable[[Event], str],
    refused: Callable[[], RefusedHook | None] = lambda: None,
) -> Pipeline:
    """The one place the chain is built, in the order of the module doc."""
    return Pipeline(
        [
            IgnoreOwn(rooms),
            IgnoreSystem(system_types),
            Dedupe(store, rooms),
            Classify(rooms, registry, prefixes, to_conversation),
            Stale(),
            RateLimit(limit, chat, replaying, meter, refused),
        ],
        handlers,
    )


__all__ = [
    "Classify",
    "Dedupe",
    "Event",
    "IgnoreOwn",
    "IgnoreSystem",
    "Middleware",
    "Pipeline",
    "RateLimit",
    "RefusedHook",
    "Stale",
    "is_stray_word",
    "send_notice",
    "standard_pipeline",
]
