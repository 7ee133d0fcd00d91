"""The dispatcher: from transport events to handlers, in order per room.

`App` puts the pieces together (see docs/internals.md):

- `Listener` (`bot.dispatch.listener`): what `RocketChatClient` calls; returns at once, holds
  messages back until catch-up is planned, then queues them on their room's FIFO
  (`KeyedSerialExecutor`, a bounded pool where each room keeps its order);
- `CatchUp` (`bot.dispatch.catchup`): one history replay per room after each (re)connect;
- `Processor` (`bot.dispatch.process`): on the room's worker, the middleware pipeline
  (`bot.dispatch.middleware`: ignore own, ignore system, dedupe, classify, stale, rate limit),
  then the ordered handler groups (`bot.dispatch.handlers`: command, conversation message,
  canned shortcut / intake), then the processed marks; plain conversation messages in batches;
- `RoomBook` (`bot.dispatch.rooms`): room kinds, cursors, and who the bot is;
- `SlowJobs` and `Pruner` (`bot.dispatch.housekeeping`).

The handlers and hooks come in one `Routes` (in the constructor, or one `register` call from the
composition root, `bot.runtime.compose`); nothing assigns them afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from bot.chat.port import ChatPort
from bot.chat.types import Message, User
from bot.cmd import Registry, UserPermissions, did_you_mean
from bot.cmd.context import utc_now
from bot.cmd.runner import prefixes_of
from bot.dispatch.catchup import RUN_STARTED_KEY, CatchUp
from bot.dispatch.handlers import CommandHandler, HandlerGroups, Routes
from bot.dispatch.housekeeping import Pruner, SlowJobs
from bot.dispatch.listener import Listener
from bot.dispatch.meter import Meter
from bot.dispatch.middleware import Event, Pipeline, send_notice, standard_pipeline
from bot.dispatch.ordering import KeyedSerialExecutor
from bot.dispatch.process import Processor
from bot.dispatch.ratelimit import CommandLimit, describe, settings_of
from bot.dispatch.rooms import (
    ROOM_CONVERSATION,
    ROOM_DM,
    ROOM_OTHER,
    STALE_GRACE,
    RoomBook,
    cursor_ts,
    revision_of,
    stored_cursor_of,
)
from bot.dispatch.users import UserCache
from bot.domain.permissions import Permissions

log = logging.getLogger("omnicat.app")

#: system message types the workflow uses: deletions and membership changes
#: `livechat-close`: a visitor (or a person in Rocket.Chat's UI) ended a livechat room
DEFAULT_SYSTEM_TYPES = frozenset({"rm", "uj", "ul", "au", "ru", "ujt", "ult", "livechat-close"})
#: processed marks are kept this long behind their room's cursor (see `Pruner`)
PRUNE_MARGIN = timedelta(days=1)
#: seconds between two prunes of the processed marks (0: never)
PRUNE_EVERY = 600.0

__all__ = [
    "DEFAULT_SYSTEM_TYPES",
    "PRUNE_EVERY",
    "PRUNE_MARGIN",
    "ROOM_CONVERSATION",
    "ROOM_DM",
    "ROOM_OTHER",
    "RUN_STARTED_KEY",
    "STALE_GRACE",
    "App",
    "Routes",
    "cursor_ts",
    "revision_of",
]


def _check_declared_permissions(registry: Registry, table: Permissions) -> None:
    """A typo in a command's `permission=` would deny it to everyone (or crash): fail at start."""
    known = set(table.names())
    for cmd in registry:
        for permission in cmd.permission:
            if permission not in known:
                close = did_you_mean(permission, sorted(known))
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(f"/{cmd.name} declares unknown permission {permission!r}{hint}")


class App:
    def __init__(
        self,
        *,
        store: Any,
        config: Any = None,
        registry: Registry | None = None,
        chat: ChatPort | None = None,
        clock: Callable[[], datetime] = utc_now,
        permissions: Permissions | None = None,
        metrics: Any = None,
        routes: Routes | None = None,
        workers: int = 8,
        slow_workers: int = 2,
        system_types: frozenset[str] = DEFAULT_SYSTEM_TYPES,
        user_ttl: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
        prune_every: float = PRUNE_EVERY,
        prune_margin: timedelta = PRUNE_MARGIN,
        live: bool = False,
    ) -> None:
        if prune_margin <= STALE_GRACE:
            # a re-emitted message younger than that still counts as new: its mark must stay
            raise ValueError(f"prune_margin must be more than {STALE_GRACE}")
        if registry is None:
            from commands import load_commands

            registry = load_commands()
        self.store, self.config, self.registry, self.clock = store, config, registry, clock
        #: the chat port; bound once the transport exists (it needs this App as its listener)
        self.chat: ChatPort | None = chat
        table = permissions if permissions is not None else Permissions.from_config(config)
        _check_declared_permissions(registry, table)
        self._table = UserPermissions(table)
        self.metrics = metrics
        self.meter = Meter(metrics)
        # the `command` label takes the registered names only (issue 20)
        know = getattr(getattr(metrics, "commands", None), "know_commands", None)
        if know is not None:
            know(word for cmd in registry for word in (cmd.name, *cmd.aliases))
        self.prefixes = prefixes_of(config)
        rate = getattr(getattr(config, "commands", None), "rate_limit", None)
        burst, per_second = settings_of(rate)
        if getattr(rate, "count", None):
            log.warning(
                "commands.rate_limit: count/per is the older spelling; it means %s "
                "(write burst and per_second instead, see config/omnicat.yaml)",
                describe(burst, per_second),
            )
        self.limit = CommandLimit(
            burst, per_second, deliver=self._deliver_refusals, clock=monotonic
        )
        self.users = UserCache(lambda: self.chat, ttl=user_ttl, clock=monotonic)
        self.rooms = KeyedSerialExecutor(max_workers=workers, name="room")
        self.slow = SlowJobs(slow_workers)
        self.pruner = Pruner(store, prune_every, prune_margin)
        self.room_book = RoomBook(lambda: self.chat, stored_cursor=stored_cursor_of(store))
        self.routes = Routes()
        self.permissions: UserPermissions = self._table
        self.services: Any = SimpleNamespace()
        self._command = CommandHandler(
            registry=self.registry,
            users=self.users,
            chat=lambda: self.chat,
            store=self.store,
            config=self.config,
            clock=self.clock,
            services=lambda: self.services,
            permissions=lambda: self.permissions,
            prepare=lambda: self.routes.prepare_context,
            meter=self.meter,
        )
        self._groups = HandlerGroups([[self._command]])
        self._registered = False
        self.processor = Processor(
            store=store,
            rooms=self.room_book,
            registry=registry,
            prefixes=self.prefixes,
            pipeline=lambda: self.pipeline,
            groups=lambda: self._groups,
            routes=lambda: self.routes,
        )
        self.catch_up_planner = CatchUp(
            store=store,
            chat=lambda: self.chat,
            clock=clock,
            rooms=self.room_book,
            queues=self.rooms,
            process_many=self.processor.process_many,
        )
        self.pipeline: Pipeline = standard_pipeline(
            rooms=self.room_book,
            store=store,
            registry=registry,
            prefixes=self.prefixes,
            system_types=frozenset(system_types),
            limit=self.limit,
            chat=lambda: self.chat,
            replaying=self.catch_up_planner.replaying,
            meter=self.meter,
            handlers=lambda event: self._groups.dispatch(event),
            to_conversation=self._to_conversation,
            refused=lambda: self.routes.refused_command,
        )
        self.listener = Listener(
            queues=self.rooms,
            rooms=self.room_book,
            meter=self.meter,
            process_many=self.processor.process_many,
            plan_catch_up=self.catch_up_planner.plan,
            on_live=self.pruner.start,
            connected=lambda: self.routes.connected,
            presence=self.handle_presence,
            has_presence=lambda: bool(self.routes.presence),
            subscription=lambda: self.routes.subscription,
        )
        if routes is not None:
            self.register(routes)
        if live:
            self.go_live()

    def register(self, routes: Routes) -> None:
        """Give the dispatcher its handlers and hooks: once, before messages flow."""
        if self._registered:
            raise RuntimeError("App.register: the routes are given once")
        self._registered = True
        self.routes = routes
        self.room_book.is_conversation_room = routes.is_conversation_room
        if routes.services is not None:
            self.services = routes.services
        if routes.roles is not None:
            # Commands' permissions see the services' roles (a YAML-listed agent is a
            # livechat-agent even without the server role); the table (YAML overrides) decides.
            self.permissions = self._table.with_roles(routes.roles)
        self._groups = HandlerGroups([[self._command], *routes.groups])

    # --- transport listener (see `Listener`) ----------------------------------------------
    ignores_own_messages = Listener.ignores_own_messages

    def on_message(self, message: Message) -> None:
        self.listener.on_message(message)

    def on_connected(self, first: bool) -> None:
        self.listener.on_connected(first)

    def on_disconnected(self, reason: str) -> None:
        self.listener.on_disconnected(reason)

    def on_presence(self, user_id: str, username: str, status: str) -> None:
        self.listener.on_presence(user_id, username, status)

    def on_subscription(self, action: str, subscription: Any, rid: str) -> None:
        self.listener.on_subscription(action, subscription, rid)

    @property
    def ready(self) -> threading.Event:
        """Set once catch-up is planned and live messages flow (cleared on disconnect)."""
        return self.listener.ready

    def go_live(self) -> None:
        """Let messages flow without a transport and without catch-up (tests, benches)."""
        self.listener.go_live()

    def catch_up(self, first: bool) -> None:
        """Queue one history replay per room (see `bot.dispatch.catchup`)."""
        self.catch_up_planner.plan(first)

    @property
    def started_at(self) -> datetime | None:
        return self.catch_up_planner.started_at

    # --- the per-message path (runs on the room's worker) -----------------------------------
    def process(self, message: Message) -> str:
        """Handle one message synchronously; returns what happened (for logs and tests)."""
        return self.processor.process_many([message])[0]

    def process_many(self, messages: Sequence[Message]) -> list[str]:
        """Handle messages in order, synchronously; what happened to each."""
        return self.processor.process_many(messages)

    def handle_conversation_message(self, message: Message) -> str:
        """Hand one message to the groups as a conversation room's (no pipeline, no marks)."""
        return self._groups.dispatch(Event(message, kind=ROOM_CONVERSATION))

    def handle_presence(self, user_id: str, username: str, status: str) -> None:
        """Run the presence handlers in order, synchronously."""
        for handler in self.routes.presence:
            handler(user_id, username, status)

    def _to_conversation(self, event: Event) -> str:
        if event.kind != ROOM_CONVERSATION:
            return "ignored"
        event.invocation = None
        return self._groups.dispatch(event)

    def room_kind(self, message: Message, in_conversation: bool | None = None) -> str:
        """`dm`, `conversation` or `other`; `in_conversation` when the caller asked already."""
        return self.room_book.kind(message, in_conversation)

    def user(self, ref: Any) -> User:
        return self.users.get(ref)

    def _deliver_refusals(self, rid: str, tmid: str | None, text: str) -> None:
        """A summary of refused commands (from the limit's timer): behind the room's work."""
        chat = self.chat
        if chat is None or not self.rooms.submit(rid, send_notice, chat, rid, tmid, text):
            log.warning("stopped before telling %s which commands were refused", rid)

    # --- housekeeping and lifecycle ---------------------------------------------------------
    def prune_processed(self) -> int:
        """Forget processed marks far behind their room's cursor; how many (see `Pruner`)."""
        return self.pruner.prune()

    def run_slow(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run PDF/e-mail work off the event path; failures are logged."""
        return self.slow.run(fn, *args, **kwargs)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued room job has run (tests, shutdown)."""
        return self.rooms.wait_idle(timeout)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop taking work, finish in-flight room jobs and slow jobs; False if time ran out."""
        deadline = time.monotonic() + timeout
        self.pruner.halt()
        self.limit.close()  # pending refusal summaries go out before the rooms stop
        done = self.rooms.stop(timeout)
        slow_done = self.slow.stop(deadline - time.monotonic())
        self.pruner.stop(deadline - time.monotonic())
        for handler in self.routes.stopped:
            try:
                handler()
            except Exception:
                log.exception("stopped handler failed")
        return done and slow_done
