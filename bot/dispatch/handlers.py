"""Ordered handler groups: where a message goes once the middleware let it through.

After python-telegram-bot's `add_handler(handler, group)`: groups run in order; within a group
the first handler that takes the message (returns a result) ends that group; a handler that must
end the whole dispatch (a command that ran) says so with `Stop` (PTB's `ApplicationHandlerStop`).
The overall result is the first group's result ("ignored" when nobody took it).

The groups the composition root (`bot.runtime.compose`) builds:

0. `CommandHandler`: a command runs (`bot.cmd.run_command`) and nothing else sees the message;
1. `ConversationMessage`: a conversation room's message is recorded (and its followers run:
   livechat's close and first line, the timers);
2. `CannedShortcut`, `Intake`: an agent's `!x` is expanded (in a conversation room after it was
   recorded; elsewhere instead of intake); anything else outside a conversation room is intake.

`Routes` holds everything else the dispatcher calls besides the groups (presence, subscriptions,
(re)connect and stop hooks, the batch store of conversation messages); it is given to the `App`
once, in its constructor or one `App.register` call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from bot.chat.types import Message, Subscription
from bot.cmd import Context, Registry
from bot.cmd import run_command as _run_command
from bot.dispatch.meter import Meter
from bot.dispatch.middleware import Event
from bot.dispatch.rooms import ROOM_CONVERSATION

MessageHandler = Callable[[Message, str], None]


class Handler(Protocol):
    def handle(self, event: Event) -> str | None:
        """A result when this handler took the event; None to leave it to the next one."""


@dataclass
class Stop(Exception):
    """Raised by a handler that took the event and ends the whole dispatch."""

    result: str


@dataclass
class Routes:
    """What the dispatcher hands events to (built by the composition root)."""

    #: the handler groups after the command group, in order (see the module doc)
    groups: Sequence[Sequence[Handler]] = ()
    #: whether a room is a conversation room (asked once per message)
    is_conversation_room: Callable[[str], bool] = lambda rid: False
    #: stores plain messages of conversation rooms (metrics included) in one transaction
    #: before the conversation group sees them; returns the notes the handler finds through
    #: `bot.chat.ingest.prestored_note`. None: the handler stores.
    store_conversation_messages: Callable[[Sequence[Message]], Mapping[Any, Any]] | None = None
    #: sets `ctx.conversation` and friends before a command's handler runs
    prepare_context: Callable[[Context], None] | None = None
    #: a command the rate limit refused (its message, its room's kind), run after the handlers
    #: and before its processed mark: typed in a customer room, it is deleted (issue 16)
    refused_command: Callable[[Message, str], None] | None = None
    #: a user's roles as the services see them (commands' permissions use them); None: the server's
    roles: Callable[[Any], Any] | None = None
    #: `ctx.services` of every command
    services: Any = None
    presence: Sequence[Callable[[str, str, str], None]] = ()
    #: a subscription `inserted` or `removed` (on the room's queue); `updated` (the unread
    #: counts, one per message in the room) only refreshes the room's type
    subscription: Callable[[str, Subscription | None, str], None] | None = None
    #: run in order after each (re)connect, once catch-up is planned
    connected: Sequence[Callable[[bool], None]] = ()
    #: run at the end of a clean `stop()` (the store is still open)
    stopped: Sequence[Callable[[], None]] = ()

    @cached_property
    def takes_conversations(self) -> bool:
        """Whether a group records conversation messages (asked for every message)."""
        return any(isinstance(h, ConversationMessage) for group in self.groups for h in group)


class HandlerGroups:
    def __init__(self, groups: Sequence[Sequence[Handler]]) -> None:
        self.groups = tuple(tuple(group) for group in groups)

    def dispatch(self, event: Event) -> str:
        result: str | None = None
        try:
            for group in self.groups:
                for handler in group:
                    taken = handler.handle(event)
                    if taken is not None:
                        result = result or taken
                        break
        except Stop as stop:
            return stop.result
        return result or "ignored"


class CommandHandler:
    """Runs the event's command; a word that turns out to be no command falls through."""

    def __init__(
        self,
        *,
        registry: Registry,
        users: Any,
        chat: Callable[[], Any],
        store: Any,
        config: Any,
        clock: Callable[[], Any],
        services: Callable[[], Any],
        permissions: Callable[[], Any],
        prepare: Callable[[], Callable[[Context], None] | None],
        meter: Meter,
    ) -> None:
        self.registry, self.users, self.chat = registry, users, chat
        self.store, self.config, self.clock = store, config, clock
        self.services, self.permissions, self.prepare = services, permissions, prepare
        self.meter = meter

    def handle(self, event: Event) -> str | None:
        invocation = event.invocation
        if invocation is None:
            return None
        started = time.perf_counter()
        message = event.message
        chat = self.chat()
        assert chat is not None, "App.chat must be set before messages arrive"
        ctx = Context(
            user=self.users.get(message.author),
            rid=message.rid,
            room_kind=event.kind,
            message=message,
            chat=chat,
            store=self.store,
            config=self.config,
            clock=self.clock,
            services=self.services(),
            permissions=self.permissions().remembering(),
            registry=self.registry,
            after_handling=event.after_handlers,
        )
        outcome = _run_command(
            self.registry,
            ctx,
            message.text,
            invocation,
            prepare=self.prepare(),
            admit=event.admit,
        )
        self.meter.command(outcome.command or invocation.word, outcome.status, started)
        if outcome.status == "not_a_command":
            return None
        raise Stop(f"command:{outcome.status}")


class ConversationMessage:
    """A conversation room's message: `record` it, then tell the `followers` in order."""

    def __init__(self, record: MessageHandler, followers: Sequence[MessageHandler] = ()) -> None:
        self.record, self.followers = record, tuple(followers)

    def handle(self, event: Event) -> str | None:
        if event.kind != ROOM_CONVERSATION:
            return None
        self.record(event.message, event.kind)
        for follower in self.followers:
            follower(event.message, event.kind)
        return "conversation"


class Intake:
    """Anything outside a conversation room: the intakes, then their `followers`."""

    def __init__(self, intake: MessageHandler, followers: Sequence[MessageHandler] = ()) -> None:
        self.intake, self.followers = intake, tuple(followers)

    def handle(self, event: Event) -> str | None:
        if event.kind == ROOM_CONVERSATION:
            return None
        self.intake(event.message, event.kind)
        for follower in self.followers:
            follower(event.message, event.kind)
        return "intake"


class CannedShortcut:
    """An agent's `!shortcut` (`bot.services.shortcut.CannedExpander`) becomes the response."""

    def __init__(self, expander: Any) -> None:
        self.expander = expander

    def handle(self, event: Event) -> str | None:
        found = self.expander.trigger(event.message)
        if found is None:
            return None
        self.expander.expand(event.message, event.kind, *found)
        return "conversation" if event.kind == ROOM_CONVERSATION else "intake"


@dataclass
class Observer:
    """Sees every event that reaches its group and takes none (tests, tracing)."""

    see: Callable[[Event], None]
    kinds: frozenset[str] = field(default_factory=frozenset)

    def handle(self, event: Event) -> str | None:
        if not self.kinds or event.kind in self.kinds:
            self.see(event)
        return None
