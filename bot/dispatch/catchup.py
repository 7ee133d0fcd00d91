"""Catch-up after (re)connecting: one history replay per room, queued ahead of live messages.

Each room (cursors ∪ subscriptions) gets one job on its own queue that replays `chat.history`
since its cursor. On the very first start (an empty store) nothing old is replayed: "now"
becomes every room's cursor and only messages after it matter. While a room's job replays,
`replaying.active` is set on that worker's thread (the rate limit exempts replays).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.chat.port import ChatPort
from bot.chat.types import Message, Subscription
from bot.dispatch.ordering import KeyedSerialExecutor
from bot.dispatch.rooms import RoomBook, cursor_ts

log = logging.getLogger("omnicat.app")

#: kv key: when the last run first connected (catch-up of rooms that have no cursor yet)
RUN_STARTED_KEY = "app.run_started_at"


class CatchUp:
    def __init__(
        self,
        *,
        store: Any,
        chat: Callable[[], ChatPort | None],
        clock: Callable[[], datetime],
        rooms: RoomBook,
        queues: KeyedSerialExecutor,
        process_many: Callable[[Sequence[Message]], list[str]],
    ) -> None:
        self.store, self.chat, self.clock = store, chat, clock
        self.rooms, self.queues, self.process_many = rooms, queues, process_many
        #: when this run first connected
        self.started_at: datetime | None = None
        #: set on a room worker's thread while it replays history
        self.replaying = threading.local()

    def plan(self, first: bool) -> None:
        """Queue one history replay per room (cursors ∪ subscriptions); see the module doc."""
        now = self.clock()
        if self.started_at is None:
            self.started_at = now
        subscriptions = self._subscriptions()
        for sub in subscriptions:
            self.rooms.set_type(sub.rid, sub.type)
        cursors = {c.rid: cursor_ts(c.last_ts) for c in self.store.cursors()}
        rids = sorted({s.rid for s in subscriptions} | set(cursors))
        last_run = self._last_run_start(first, now)
        if first and not cursors:
            # First start ever: old history is not ours to answer. Record where we began.
            log.info("empty store: starting fresh at %s, no catch-up", now.isoformat())
            for rid in rids:
                self.store.advance_cursor(rid, now, None)
                self.rooms.note_cursor(rid, now)
            return
        for rid, ts in cursors.items():
            self.rooms.note_cursor(rid, ts)
        # A room with no cursor was joined while we were away: replay it since we went away,
        # or since the last run began if that is earlier. A run killed while a burst of new
        # rooms (first DMs) waited, with other rooms' cursors already past them, would
        # otherwise leave those first messages unanswered for good (found by the failover test).
        since_away = max(cursors.values(), default=self.started_at)
        uncursored = min(since_away, last_run) if last_run else since_away
        for rid in rids:
            self.queues.submit(rid, self.replay_room, rid, cursors.get(rid, uncursored))
        log.info("catching up %d room(s) (first=%s)", len(rids), first)

    def _last_run_start(self, first: bool, now: datetime) -> datetime | None:
        """When the previous run (first connect) or this one (a reconnect) began; the store
        keeps it (kv `app.run_started_at`) for the next run."""
        if not first:
            return self.started_at
        try:
            raw = self.store.kv_get(RUN_STARTED_KEY)
            self.store.kv_set(RUN_STARTED_KEY, now.isoformat())
            return datetime.fromisoformat(raw) if raw else None
        except Exception:
            log.warning("cannot read or record the run's start", exc_info=True)
            return None

    def _subscriptions(self) -> list[Subscription]:
        chat = self.chat()
        if chat is None:
            return []
        try:
            return list(chat.subscriptions())
        except Exception:
            log.warning("cannot list subscriptions for catch-up", exc_info=True)
            return []

    def replay_room(self, rid: str, oldest: datetime) -> None:
        chat = self.chat()
        assert chat is not None
        try:
            messages = chat.history(rid, oldest=oldest)
        except Exception:
            log.warning("catch-up of %s failed", rid, exc_info=True)
            return
        self.replaying.active = True
        try:
            self.process_many(sorted(messages, key=lambda m: m.ts))
        finally:
            self.replaying.active = False
