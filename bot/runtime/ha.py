"""`omnicat run` with `ha.enabled`: stand by, take the lease, serve, step down (issue 11).

One `HaRunner` per process. It owns what outlives an active spell — the lease, the ops server
(`/healthz` answers in every role) and the metrics — and builds a fresh `Bot` each time it
takes over:

    standby ──lease free or expired──▶ starting ──connected, caught up──▶ active
       ▲                                                                   │
       └───────── lease lost (taken over, lapsed) / server unreachable ◀──┘

A standby has no connection to the chat server at all; it polls the lease row. Taking over
is a normal start: migrations (none left), the DDP login, catch-up from the stored cursors
(what was sent while nobody was active is answered now, once: the processed marks say what
the old instance finished), the timers re-armed from the store, pending transcripts resumed,
and the reconciler bringing rooms in line after the old instance's unclean end.

Stepping down when the lease is lost (another instance has it, or it lapsed while this one
was frozen): the `Bot` is stopped with a short timeout. Its store is fenced and its chat port
refuses (`bot/runtime/lease.py`), so whatever it still had queued writes and posts nothing; the new
active instance does that work from its catch-up. The runner then stands by again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from prometheus_client import Counter, Gauge

from bot.chat.errors import AuthenticationFailed, CallTimeout, ConnectionLost, ServerError
from bot.runtime.lease import Lease, default_holder_id
from bot.runtime.metrics import Metrics
from bot.runtime.ops import OpsServer

log = logging.getLogger("omnicat.ha")

ROLES = ("standby", "starting", "active", "stepping_down")
#: how long a deposed instance waits for its queued work (all of it fails fast: fenced)
STEP_DOWN_TIMEOUT = 5.0


class HaRunner:
    def __init__(
        self,
        config: Any,
        stop: threading.Event,
        *,
        bot_factory: Any,
        retry_cap: float = 30.0,
    ) -> None:
        # The Bot class comes from the caller (`bot.runtime.root`): this module is below it.
        self.config = config
        self.stop = stop
        self.retry_cap = retry_cap
        self.bot_factory = bot_factory
        ha = config.ha
        self.lease = Lease(
            config.store.url,
            ttl=ha.lease_ttl.total_seconds(),
            heartbeat=ha.heartbeat.total_seconds(),
            holder=ha.instance or default_holder_id(),
        )
        # a standby looks at the lease often: the takeover bound is lease_ttl + this
        self.poll = min(1.0, self.lease.heartbeat / 2)
        self.metrics = Metrics()
        self.role = "standby"
        self.bot: Any = None
        self._wake = threading.Event()
        self.lease.on_lost(lambda _reason: self._wake.set())
        registry = self.metrics.registry
        self._role_gauge = Gauge(
            "omnicat_ha_role",
            "High availability: 1 for this instance's current role (standby, starting, "
            "active, stepping_down).",
            ["role"],
            registry=registry,
        )
        self._epoch_gauge = Gauge(
            "omnicat_ha_epoch",
            "The lease epoch this instance holds (0 when it holds none).",
            registry=registry,
        )
        self._takeovers = Counter(
            "omnicat_ha_takeovers", "Times this instance took the lease.", registry=registry
        )
        self._losses = Counter(
            "omnicat_ha_lease_lost",
            "Times this instance lost the lease while active (taken over or lapsed).",
            registry=registry,
        )
        self._takeover_seconds = Gauge(
            "omnicat_ha_takeover_seconds",
            "Seconds from taking the lease to serving (connected and caught up), last time.",
            registry=registry,
        )
        self._set_role("standby")

    # --- role -------------------------------------------------------------------------------
    def _set_role(self, role: str) -> None:
        if role != self.role:
            log.warning("role: %s -> %s", self.role, role)
        self.role = role
        for name in ROLES:
            self._role_gauge.labels(role=name).set(1 if name == role else 0)
        self._epoch_gauge.set(self.lease.epoch or 0 if role in ("starting", "active") else 0)

    def health(self) -> tuple[bool, str]:
        """Standby is healthy (200) while it can see the lease: it is ready to take over."""
        role, bot = self.role, self.bot
        if role == "active" and bot is not None:
            return bot.health()
        if role == "starting":
            return False, "taking over: connecting and catching up"
        if role == "stepping_down":
            return False, "lost the lease; stepping down"
        try:
            current = self.lease.current()
        except Exception as exc:
            return False, f"standby; cannot read the lease: {exc.__class__.__name__}"
        if current is None or current.remaining <= 0:
            return True, "standby; no active instance, taking over"
        return True, f"standby; active: {current.holder} (epoch {current.epoch})"

    def details(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "ha": True,
            "instance": self.lease.holder,
            "epoch": self.lease.epoch if self.role in ("starting", "active") else None,
        }

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        ops = None
        listen = self.config.http.listen
        if listen:
            ops = OpsServer(listen, self.health, self.metrics.registry, self.details).start()
        try:
            if not self._migrate():
                return 0 if self.stop.is_set() else 1
            delay = 1.0
            while not self.stop.is_set():
                self._set_role("standby")
                if not self.lease.try_acquire():
                    self.stop.wait(self.poll)
                    continue
                outcome = self._serve()
                if outcome == "fatal":
                    return 1
                if outcome == "retry":  # the chat server is unreachable: let others try too
                    self.stop.wait(delay)
                    delay = min(self.retry_cap, delay * 2)
                else:
                    delay = 1.0
            return 0
        finally:
            self.lease.release()
            self.lease.close()
            if ops is not None:
                ops.stop()

    def _migrate(self) -> bool:
        """Apply migrations before competing for the lease (the lease row is migration 9)."""
        from bot.store import Store

        delay = 1.0
        while not self.stop.is_set():
            try:
                Store(self.config.store.url).close()
                return True
            except Exception as exc:
                log.warning("cannot open the store (%s); retrying in %.0f s", exc, delay)
            if self.stop.wait(delay):
                return False
            delay = min(self.retry_cap, delay * 2)
        return False

    def _serve(self) -> str:
        """One active spell: "stopped", "lost", "retry" or "fatal"."""
        took_at = time.monotonic()
        self._takeovers.inc()
        self._set_role("starting")
        self.lease.start_heartbeat()
        bot = self.bot_factory(self.config, metrics=self.metrics, lease=self.lease, serve_ops=False)
        try:
            bot.start()
        except (ConnectionLost, CallTimeout, ServerError, OSError) as exc:
            log.warning("took the lease but cannot reach the server (%s); handing it back", exc)
            self.lease.release()
            return "retry"
        except AuthenticationFailed as exc:
            log.error("the server refused the bot's credentials: %s", exc)
            self.lease.release()
            return "fatal"
        except Exception:
            if self.lease.lost.is_set():  # lost it while starting: stand by again
                self.lease.forget()
                return "lost"
            log.exception("cannot start")
            self.lease.release()
            return "fatal"
        self.bot = bot
        self._takeover_seconds.set(time.monotonic() - took_at)
        self._set_role("active")
        log.warning(
            "active as %s (epoch %s) after %.1f s",
            self.lease.holder,
            self.lease.epoch,
            time.monotonic() - took_at,
        )
        while not self.stop.is_set() and not self.lease.lost.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
        try:
            if self.lease.lost.is_set():
                self._losses.inc()
                self._set_role("stepping_down")
                bot.stop(STEP_DOWN_TIMEOUT)
                self.lease.forget()
                return "lost"
            bot.stop()
            self.lease.release()
            return "stopped"
        finally:
            self.bot = None


class _DeposedQuiet(logging.Filter):
    """After the lease is lost, the deposed Bot's last work fails by design (fenced writes,
    refused chat calls, a session the server ended): one line each, not a traceback each."""

    def __init__(self, lease: Lease) -> None:
        super().__init__()
        self.lease = lease

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and self.lease.lost.is_set():
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({exc.__class__.__name__}: the lease is lost)"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def run_ha(config: Any, stop: threading.Event, *, bot_factory: Any, retry_cap: float = 30.0) -> int:
    """`omnicat run` under `ha.enabled` (called by `bot.runtime.root.run_bot` with its `Bot`)."""
    runner = HaRunner(config, stop, bot_factory=bot_factory, retry_cap=retry_cap)
    quiet = _DeposedQuiet(runner.lease)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        return runner.run()
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
