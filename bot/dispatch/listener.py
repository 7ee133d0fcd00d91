"""The transport's listener: `RocketChatClient` calls these methods, and each returns at once.

Messages go to their room's FIFO queue (`KeyedSerialExecutor`). Messages that arrive before
catch-up is planned are held back; once it is (`go_live`), they are queued behind each room's
replay job. A (dis)connect bumps a generation, so a planner overtaken by a newer (dis)connect
never lets messages flow.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from bot.chat.types import Message, Subscription
from bot.dispatch.meter import Meter
from bot.dispatch.ordering import KeyedSerialExecutor
from bot.dispatch.rooms import RoomBook

log = logging.getLogger("omnicat.app")


class Listener:
    #: the transport may drop the bot's own messages unparsed: once live they are not queued
    #: (below), and the ones that arrive while catch-up is planned are ignored by the pipeline
    #: and never move a stored cursor; catch-up replays them from history and ignores them
    ignores_own_messages = True
    #: an "updated" subscription (every message in a room updates the bot's unread counts)
    #: tells nothing a handler acts on (`Routes.subscription`) nor anything the room book does
    #: not know from the insertion or the messages: the transport may drop them unparsed
    ignores_subscription_updates = True

    def __init__(
        self,
        *,
        queues: KeyedSerialExecutor,
        rooms: RoomBook,
        meter: Meter,
        process_many: Callable[[Sequence[Message]], list[str]],
        plan_catch_up: Callable[[bool], None],
        on_live: Callable[[], None],
        connected: Callable[[], Sequence[Callable[[bool], None]]],
        presence: Callable[[str, str, str], None],
        has_presence: Callable[[], bool],
        subscription: Callable[[], Callable[[str, Subscription | None, str], None] | None],
    ) -> None:
        self.queues, self.rooms, self.meter = queues, rooms, meter
        self.process_many, self.plan_catch_up = process_many, plan_catch_up
        self.on_live, self.connected = on_live, connected
        self.presence, self.has_presence = presence, has_presence
        self.subscription = subscription
        self._lock = threading.Lock()
        self._live = False  # False: hold messages back until catch-up is planned
        self._generation = 0  # bumped on every (dis)connect: a stale planner must not go live
        self._held: list[Message] = []
        #: set once catch-up is planned and live messages flow (cleared on disconnect)
        self.ready = threading.Event()

    @property
    def live(self) -> bool:
        return self._live

    def on_message(self, message: Message) -> None:
        self.meter.inc("events_received")
        with self._lock:
            if not self._live:
                self._held.append(message)
                return
            if self.rooms.is_own(message):
                # Our own messages (every reply comes back on our stream) need no routing (the
                # pipeline ignores them first thing): not queueing them spares a room worker a
                # hand-off per reply, between this room's commands.
                return
            # submitted under the lock: the room's FIFO gets messages in arrival order
            self.queues.submit_batch(message.rid, self.process_many, message)

    def on_connected(self, first: bool) -> None:
        if not first:
            self.meter.inc("reconnects")
        with self._lock:
            self._generation += 1
            generation = self._generation
        # Planning needs REST and the store: off the transport's thread.
        threading.Thread(
            target=self.plan_and_go_live, args=(first, generation), name="catch-up", daemon=True
        ).start()

    def on_disconnected(self, reason: str) -> None:
        log.info("disconnected (%s); holding messages until caught up", reason)
        with self._lock:
            self._generation += 1
            self._live = False
            self.ready.clear()

    def on_presence(self, user_id: str, username: str, status: str) -> None:
        if not self.has_presence():
            return
        self.queues.submit(f"presence:{user_id}", self.presence, user_id, username, status)

    def on_subscription(self, action: str, subscription: Subscription | None, rid: str) -> None:
        if action == "removed":
            self.rooms.forget(rid)
        elif subscription is not None:
            self.rooms.set_type(rid, subscription.type)
        if action == "updated":
            # every message in a room updates the bot's subscription (unread counts): no
            # handler acts on it (`Routes.subscription`), so no job per message for it
            return
        handler = self.subscription()
        if handler is not None:
            self.queues.submit(rid, handler, action, subscription, rid)

    # --- going live -------------------------------------------------------------------------
    def plan_and_go_live(self, first: bool, generation: int | None = None) -> None:
        """Plan catch-up, then let messages flow, unless a newer (dis)connect came meanwhile
        (`generation` is the one this planner was started for; None: the current one)."""
        try:
            self.plan_catch_up(first)
        except Exception:
            log.exception("catch-up planning failed; processing live messages only")
        if not self.go_live(generation):
            return
        for handler in self.connected():
            try:
                handler(first)
            except Exception:
                log.exception("connected handler failed")

    def go_live(self, generation: int | None = None) -> bool:
        """Let messages flow: the held ones first (queued under the lock so a newer live message
        cannot overtake them). False when `generation` is no longer the current one. Without a
        transport (tests calling `App.process` directly) this is how the dispatcher starts."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return False  # disconnected (or reconnected) meanwhile: the next planner goes live
            held, self._held = self._held, []
            self._live = True
            for message in held:
                self.queues.submit_batch(message.rid, self.process_many, message)
            self.on_live()
        self.ready.set()
        return True
