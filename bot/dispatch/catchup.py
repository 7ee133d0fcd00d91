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
        last_run = self._last_run_start(first)
        if first and not cursors:
            # First start ever: old history is not ours to answer. Record where we began.
            log.info("empty store: starting fresh at %s, no catch-up", now.isoformat())
            for rid in rids:
                self.store.advance_cursor(rid, now, None)
                self.rooms.note_cursor(rid, now)
            self._record_run_start(now)
            return
        for rid, ts in cursors.items():
            self.rooms.note_cursor(rid, ts)
        # A room with no cursor was joined while we were away: replay it since we went away,
        # or since the last run began if that is earlier. A run killed while a burst of new
        # rooms (first DMs) waited, with other rooms' cursors already past them, would
        # otherwise leave those first messages unanswered for good (found by the failover test).
        since_away = max(cursors.values(), default=self.started_at)
        uncursored = min(since_away, last_run) if last_run else since_away
        # This run's start becomes the next run's point only once every room is caught up:
        # a run killed during its catch-up has not handled what it replays from the run
        # before, so the next one must reach back as far (a chain of kills, found by the
        # kill -9 test: a contact's first line, replayed and cut short twice, was lost).
        done = _Countdown(len(rids), self._record_run_start, self.started_at) if first else None
        for rid in rids:
            job = self.replay_room if done is None else done.wrap(self.replay_room)
            if not self.queues.submit(rid, job, rid, cursors.get(rid, uncursored)) and done:
                done.cancel()  # stopping: this run did not catch up
        if done is not None:
            done.arm()
        log.info("catching up %d room(s) (first=%s)", len(rids), first)

    def _last_run_start(self, first: bool) -> datetime | None:
        """When the last run that caught up began (first connect), or this one (a reconnect);
        the store keeps it (kv `app.run_started_at`, see `_record_run_start`)."""
        if not first:
            return self.started_at
        try:
            raw = self.store.kv_get(RUN_STARTED_KEY)
            return datetime.fromisoformat(raw) if raw else None
        except Exception:
            log.warning("cannot read the last run's start", exc_info=True)
            return None

    def _record_run_start(self, started: datetime | None) -> None:
        if started is None:
            return
        try:
            self.store.kv_set(RUN_STARTED_KEY, started.isoformat())
        except Exception:
            log.warning("cannot record the run's start", exc_info=True)

    def _subscriptions(self) -> list[Subscription]:
        chat = self.chat()
        if chat is None:
            return []
        try:
            return list(chat.subscriptions())
        except Exception:
            log.warning("cannot list subscriptions for catch-up", exc_info=True)
            return []

    def replay_room(self, rid: str, oldest: datetime) -> bool:
        """False when the room's history could not be read (not caught up)."""
        chat = self.chat()
        assert chat is not None
        try:
            messages = chat.history(rid, oldest=oldest)
        except Exception:
            log.warning("catch-up of %s failed", rid, exc_info=True)
            return False
        self.replaying.active = True
        try:
            self.process_many(sorted(messages, key=lambda m: m.ts))
        finally:
            self.replaying.active = False
        return True


class _Countdown:
    """Calls `fn(arg)` once when `count` wrapped jobs have run (after `arm`), unless
    cancelled: "every room's catch-up is done"."""

    def __init__(self, count: int, fn: Callable[[Any], None], arg: Any) -> None:
        self._left = count
        self._armed = False
        self._cancelled = False
        self._fn, self._arg = fn, arg
        self._lock = threading.Lock()

    def wrap(self, job: Callable[..., bool]) -> Callable[..., bool]:
        """`job` counted when it ends; a job that returns False (or raises) cancels."""

        def run(*args: Any) -> bool:
            ok = False
            try:
                ok = job(*args)
            finally:
                if not ok:
                    self.cancel()
                self._done(1)
            return ok

        return run

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True

    def arm(self) -> None:
        self._done(0, arm=True)

    def _done(self, n: int, *, arm: bool = False) -> None:
        with self._lock:
            self._left -= n
            self._armed = self._armed or arm
            fire = self._armed and self._left == 0 and not self._cancelled
            if fire:
                self._cancelled = True  # once
        if fire:
            self._fn(self._arg)
