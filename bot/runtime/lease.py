"""High availability by lease (issue 11): one active instance among any number on one PostgreSQL.

The lease is one row (`omnicat_lease`, migration 9): holder, `epoch`, `expires_at`, all in the
database's clock. The active instance renews it every `heartbeat`; a standby polls, and once the
row has expired it takes over: it deletes the row and inserts the next epoch in one
transaction. The epoch is the fencing token:

- **store**: every write transaction of the active instance begins with `Lease.fence(conn)`, a
  `SELECT … FOR KEY SHARE` of the row with our holder and epoch. A takeover deletes that row (a
  key change), so it waits for our transactions in flight, and every later one of ours finds no
  row and raises `Fenced`: a deposed instance writes nothing. Heartbeats only update
  `expires_at`, which does not conflict with KEY SHARE, so they never wait for our own writes.
  A frozen instance (SIGSTOP) in the middle of a transaction cannot keep the row lock: the
  store's sessions run with `idle_in_transaction_session_timeout` (`Store(idle_tx_timeout=…)`).
- **chat**: an instance frozen for longer than the lease must not post when it wakes. The lease
  is also kept on the local monotonic clock (which runs on while a process is stopped): it is
  ours until `ttl - margin` after the start of the last successful renewal, a moment that is
  never later than the database's own expiry. `FencedChat` checks that before every chat call,
  and the heartbeat thread notices a lapse at once on waking and reports the lease lost, so the
  runner (`bot/runtime/ha.py`) steps down. A lease that lapsed locally is never renewed: the
  instance steps down and stands by, even if no standby took over yet.

Nothing here is SQLite: the configuration refuses `ha.enabled` without a PostgreSQL store.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from bot.store import lease as rows
from bot.store.lease import Holder

log = logging.getLogger("omnicat.lease")

DEFAULT_NAME = "omnicat"


class Fenced(RuntimeError):
    """This instance does not hold the lease (any more): it must not act."""


def default_holder_id() -> str:
    """hostname:pid:random — unique per run, readable in `/healthz` and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    """The lease of one instance: acquire, renew (heartbeat thread), fence, release."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        heartbeat: float,
        holder: str | None = None,
        name: str = DEFAULT_NAME,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if heartbeat <= 0 or ttl <= heartbeat:
            raise ValueError("the lease needs 0 < heartbeat < ttl")
        self.engine = rows.lease_engine(url, ttl)
        self.ttl = float(ttl)
        self.heartbeat = float(heartbeat)
        self.holder = holder or default_holder_id()
        self.name = name
        self.clock = clock
        #: local safety margin: clock rates and the statement's own time
        self.margin = max(0.2, 0.1 * self.ttl)
        self.epoch: int | None = None
        self.lost = threading.Event()
        self._valid_until = 0.0
        self._lock = threading.Lock()
        self._beating: threading.Thread | None = None
        self._stop_beat = threading.Event()
        self._on_lost: list[Callable[[str], None]] = []

    # --- state ----------------------------------------------------------------------------
    def holds(self) -> bool:
        """Ours, and not lapsed on the local clock."""
        with self._lock:
            held = self.epoch is not None and not self.lost.is_set()
            lapsed = held and self.clock() >= self._valid_until
        if lapsed:
            self._lose("the lease lapsed (the process was paused or the database unreachable)")
            return False
        return held

    def check(self) -> None:
        """Raise `Fenced` unless `holds()`."""
        if not self.holds():
            raise Fenced(f"{self.holder} does not hold the lease")

    def fence(self, conn: sa.Connection) -> None:
        """For `Store(fence=…)`: first statement of every write transaction."""
        self.check()
        if not rows.fenced_row(conn, self.name, self.holder, self.epoch):
            self._lose(f"another instance took over (our epoch was {self.epoch})")
            raise Fenced(f"{self.holder} lost the lease (epoch {self.epoch})")

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """`callback(reason)` once, when the lease is lost (from whichever thread noticed)."""
        self._on_lost.append(callback)

    def current(self) -> Holder | None:
        """The row as the database has it now (None: nobody ever held it)."""
        with self.engine.connect() as conn:
            return rows.current(conn, self.name)

    # --- acquire / renew / release ---------------------------------------------------------
    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it or it expired; True when it is now ours."""
        if self.holds():
            return True
        try:
            peek = self.current()
            if peek is not None and peek.remaining > 0:
                return False  # held: no row lock, so a live holder is never slowed down
            started = self.clock()
            with self.engine.begin() as conn:
                epoch = rows.take_over(conn, self.name, self.holder, self.ttl)
            if epoch is None:
                return False  # renewed meanwhile
        except sa.exc.IntegrityError:
            return False  # another standby inserted the same epoch first
        except sa.exc.DBAPIError as exc:
            log.warning("cannot take the lease: %s", _short(exc))
            return False
        with self._lock:
            self.epoch = epoch
            self._valid_until = started + self.ttl - self.margin
            self.lost.clear()
        log.warning("took the lease as %s (epoch %d)", self.holder, epoch)
        return True

    def renew(self) -> bool:
        """Extend our lease; False when it is lost (or lapsed; then it is never renewed)."""
        if not self.holds():
            return False
        started = self.clock()
        try:
            with self.engine.begin() as conn:
                ours = rows.renew(conn, self.name, self.holder, self.epoch, self.ttl)
        except sa.exc.DBAPIError as exc:
            # not lost yet: `holds()` lapses by itself if this goes on for the whole lease
            log.warning("cannot renew the lease: %s", _short(exc))
            return self.holds()
        if not ours:
            self._lose(f"another instance took over (our epoch was {self.epoch})")
            return False
        with self._lock:
            if self.lost.is_set() or self.clock() >= self._valid_until:
                pass  # lapsed while the UPDATE ran: stay lost, `holds()` reports it
            else:
                self._valid_until = started + self.ttl - self.margin
        return self.holds()

    def release(self) -> None:
        """Give the lease up now (a clean stop): a standby need not wait for it to expire."""
        self.stop_heartbeat()
        with self._lock:
            epoch, self.epoch = self.epoch, None
        if epoch is None:
            return
        try:
            with self.engine.begin() as conn:
                rows.release(conn, self.name, self.holder, epoch)
        except sa.exc.DBAPIError as exc:
            log.warning("cannot release the lease (it expires by itself): %s", _short(exc))

    def forget(self) -> None:
        """After a loss: drop our epoch so a later `try_acquire` starts afresh."""
        self.stop_heartbeat()
        with self._lock:
            self.epoch = None

    # --- heartbeat -------------------------------------------------------------------------
    def start_heartbeat(self) -> None:
        self.stop_heartbeat()
        self._stop_beat.clear()
        self._beating = threading.Thread(target=self._beat, name="omnicat-lease", daemon=True)
        self._beating.start()

    def stop_heartbeat(self) -> None:
        self._stop_beat.set()
        beating, self._beating = self._beating, None
        if beating is not None and beating is not threading.current_thread():
            beating.join(10)

    def _beat(self) -> None:
        # Short waits: on waking from a pause, the lapse is seen within a fraction of a second.
        step = min(0.25, self.heartbeat / 4)
        next_renewal = self.clock() + self.heartbeat
        while not self._stop_beat.wait(step):
            if not self.holds():
                return
            if self.clock() >= next_renewal:
                if not self.renew() and self.lost.is_set():
                    return
                next_renewal = self.clock() + self.heartbeat

    def _lose(self, reason: str) -> None:
        with self._lock:
            if self.lost.is_set() or self.epoch is None:
                return
            self.lost.set()
        log.warning("lost the lease (epoch %s): %s", self.epoch, reason)
        for callback in list(self._on_lost):
            try:
                callback(reason)
            except Exception:
                log.exception("a lease-lost callback failed")

    def close(self) -> None:
        self.stop_heartbeat()
        self.engine.dispose()


class FencedChat:
    """The chat port of an active instance: every call first checks the lease.

    A deposed or frozen-then-woken instance gets `Fenced` instead of posting; the dispatcher
    treats it as any failed effect (the message stays unprocessed, the new active instance
    answers it from its catch-up)."""

    def __init__(self, chat: Any, lease: Lease) -> None:
        self._chat = chat
        self._lease = lease

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._chat, name)
        if not callable(value) or name.startswith("_"):
            return value
        lease = self._lease

        def gated(*args: Any, **kwargs: Any) -> Any:
            lease.check()
            return value(*args, **kwargs)

        gated.__name__ = name
        return gated


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
