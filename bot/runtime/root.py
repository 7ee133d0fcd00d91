"""The running bot: store, dispatcher, transport and ops server wired together.

`Bot(config).start()` builds the pieces bottom-up (Store → `bot.runtime.compose` (dispatcher,
services, handlers) → RocketChatClient → OpsServer) and
`stop()` takes them down top-down so nothing in flight loses what it needs: the dispatcher finishes
its queued jobs while the transport can still send their replies, and the store closes last.
`run_bot(config)` is what `omnicat run` calls: start, block until SIGTERM/SIGINT, stop.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.chat.errors import AuthenticationFailed, CallTimeout, ConnectionLost, ServerError
from bot.chat.sending import sized
from bot.cmd.context import utc_now
from bot.dispatch.app import App
from bot.domain.permissions import Permissions
from bot.rocketchat.client import RocketChatClient
from bot.runtime.compose import compose
from bot.runtime.heap import freeze_long_lived
from bot.runtime.metrics import Metrics
from bot.runtime.ops import OpsServer
from bot.store import Store

log = logging.getLogger("omnicat.runtime")


class Bot:
    """One bot instance. Safe to build several in one process (tests): nothing is global."""

    def __init__(
        self,
        config: Any,
        *,
        clock: Callable[[], datetime] | None = None,
        registry: Any = None,
        client_options: dict[str, Any] | None = None,
        metrics: Metrics | None = None,
        lease: Any = None,
        serve_ops: bool = True,
    ) -> None:
        self.config = config
        # High availability (bot/runtime/ha.py): the runner owns the lease, the ops server and the
        # metrics across its active spells; this Bot is one of them.
        self.lease = lease
        self.serve_ops = serve_ops
        self.clock = clock or utc_now
        self.registry = registry
        #: extra keyword arguments for `RocketChatClient` (tests shorten pings and back-off)
        self.client_options = dict(client_options or {})
        self.metrics = metrics or Metrics()
        self.store: Any = None
        self.app: App | None = None
        #: the conversation services (`bot.services.build.Services`), once built
        self.services: Any = None
        self.transcripts: Any = None
        self.timers: Any = None
        self.reports: Any = None
        self.client: RocketChatClient | None = None
        self.ops: OpsServer | None = None
        self._started = False
        self._stopping = False
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> Bot:
        """Connect and serve; raises (after cleaning up) if the store or the login fails."""
        with self._lock:
            if self._started:
                raise RuntimeError("Bot.start() called twice")
            self._started = True
            self._stopping = False
        try:
            self._build()
        except BaseException:
            self._teardown(timeout=5.0)
            self.store = self.app = self.client = None
            with self._lock:
                self._started = False
            raise
        return self

    def _build(self) -> None:
        cfg = self.config
        # Migrations run here: a database the code cannot use fails before we go online.
        self.store = Store(cfg.store.url, **_fenced_store(self.lease))
        # Dispatcher, services, handlers and hooks: built explicitly in one place.
        parts = compose(
            store=self.store,
            config=cfg,
            registry=self.registry,
            clock=self.clock,
            permissions=Permissions.from_config(cfg),
            metrics=self.metrics,
        )
        self.app = parts.app
        self.services = parts.services
        self.transcripts = parts.transcripts
        # Timers: started once connected (a missed alarm then fires with the chat port up).
        self.timers = parts.timers
        # The supervisor's desk (issue 19): `/monitor`, `/report`, the digest as a daily timer.
        self.reports = parts.reports
        # The ops server first: an orchestrator sees "starting" (503) rather than nothing.
        if cfg.http.listen and self.serve_ops:
            self.ops = OpsServer(
                cfg.http.listen, self.health, self.metrics.registry, details=_single_role
            ).start()
        # The transport talks to the dispatcher's listener (its callbacks return at once).
        self.client = RocketChatClient.from_settings(
            cfg.server, self.app.listener, **self.client_options
        )
        # everything the bot sends goes through the size-aware layer (bot/chat/sending.py)
        self.app.chat = sized(
            self.client if self.lease is None else _fenced_chat(self.client, self.lease)
        )
        self.client.start()
        if self.timers is not None:
            self.timers.start()
        _redact_session_token(self.client)
        log.info("serving as @%s on %s", self.client.bot_user.username or "?", self.client.url)

    def stop(self, timeout: float = 30.0) -> bool:
        """Finish in-flight work (up to `timeout`), disconnect, close the store; True if all
        queued work ran."""
        with self._lock:
            if not self._started or self._stopping:
                return True
            self._stopping = True
        done = self._teardown(timeout)
        with self._lock:
            self._started = False
        log.info("stopped%s", "" if done else " (some work was abandoned after the timeout)")
        return done

    def _teardown(self, timeout: float) -> bool:
        # Each step runs even if an earlier one failed: a stuck timer thread must not keep the
        # store open or the socket up.
        done = True
        if self.timers is not None:
            # no alarm rings into a half-stopped bot; the job store keeps them
            _safely("timers", self.timers.stop)
        if self.app is not None:
            # The transport stays up meanwhile: queued commands still need to send replies.
            # New events are refused by the app from here on; catch-up replays them next start.
            done = bool(_safely("dispatcher", self.app.stop, timeout))
        if self.store is not None:
            # the answers not yet confirmed, finished while the transport is still up (their
            # commands' marks are written after them)
            _safely("processed marks", self.store.flush_processed)
        if self.client is not None:
            _safely("transport", self.client.stop)
        if self.ops is not None:
            _safely("ops server", self.ops.stop)
            self.ops = None
        if self.store is not None:
            _safely("store", self.store.close)
        return done

    # --- state ----------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Connected, logged in, and caught up (live messages flow)."""
        return self.health()[0]

    def health(self) -> tuple[bool, str]:
        """For `/healthz`: (ok, reason)."""
        if self._stopping:
            return False, "stopping"
        client, app = self.client, self.app
        if client is None or app is None:
            return False, "starting"
        if not client.connected:
            return False, "not connected to the server"
        if not app.ready.is_set():
            return False, "catching up"
        return True, f"connected as @{client.bot_user.username}"

    @property
    def ops_address(self) -> tuple[str, int] | None:
        return self.ops.address if self.ops is not None else None


# --- high availability (issue 11; the lease and the runner: bot/runtime/lease.py, ha.py) ---


def _fenced_store(lease: Any) -> dict[str, Any]:
    """`Store` options of an active instance: every write transaction checks the lease, and a
    session idle inside a transaction for a lease's length is ended by the server (a frozen
    instance cannot hold the row locks a takeover waits for)."""
    if lease is None:
        # the only instance: the only writer of the processed marks (`bot.store.mark_filter`)
        return {"sole_writer": True}
    return {"fence": lease.fence, "idle_tx_timeout": lease.ttl}


def _single_role() -> dict[str, Any]:
    """`/healthz` of an instance without high availability: always the active one."""
    return {"role": "active", "ha": False}


def _fenced_chat(client: Any, lease: Any) -> Any:
    from bot.runtime.lease import FencedChat

    return FencedChat(client, lease)


# ---------------------------------------------------------------------------------------------


def _safely(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        log.exception("stopping the %s failed", what)
        return None


def _redact_session_token(client: RocketChatClient) -> None:
    """A password login yields a session token the config never held: teach the log redactor."""
    token = getattr(client.rest, "token", None)
    if not token:
        return
    for handler in logging.getLogger().handlers:
        redactor = getattr(handler.formatter, "redactor", None)
        if redactor is not None and hasattr(redactor, "add"):
            redactor.add(token)


def run_bot(
    config: Any,
    *,
    stop_event: threading.Event | None = None,
    retry_cap: float = 30.0,
) -> int:
    """`omnicat run`: serve until SIGTERM/SIGINT (or `stop_event`), then stop cleanly.

    An unreachable server at start is retried with back-off (in a compose file the bot may come
    up before Rocket.Chat does); refused credentials or a broken store end the run at once.
    """
    done = stop_event or threading.Event()
    previous: dict[int, Any] = {}
    # Run from the main thread, this call owns the process: its signals, and its heap (see
    # `bot.runtime.heap`); from another thread (tests, embedding) it touches neither.
    owns_process = threading.current_thread() is threading.main_thread()
    if owns_process:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, _frame: _on_signal(signum, done))
    try:
        if getattr(getattr(config, "ha", None), "enabled", False):
            from bot.runtime.ha import run_ha  # one active instance among several, by lease

            if owns_process:  # the imports at least; a takeover's own bot stays collectable
                freeze_long_lived()
            return run_ha(config, done, bot_factory=Bot, retry_cap=retry_cap)
        bot = _start_with_retries(config, done, retry_cap)
        if bot is None:
            return 0 if done.is_set() else 1
        if owns_process:
            freeze_long_lived()
        done.wait()
        log.info("shutting down")
        return 0 if bot.stop() else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_with_retries(config: Any, done: threading.Event, cap: float) -> Bot | None:
    delay = 1.0
    while not done.is_set():
        bot = Bot(config)
        try:
            return bot.start()
        except (ConnectionLost, CallTimeout, ServerError, OSError) as exc:
            log.warning("cannot reach the server (%s); retrying in %.0f s", exc, delay)
        except AuthenticationFailed as exc:
            log.error("the server refused the bot's credentials: %s", exc)
            return None
        except Exception:
            log.exception("cannot start")
            return None
        if done.wait(delay):
            return None
        delay = min(cap, delay * 2)
    return None


def _on_signal(signum: int, done: threading.Event) -> None:
    if done.is_set():
        # A second signal while stopping: the operator wants out now.
        log.warning("received %s again; exiting without waiting", signal.Signals(signum).name)
        os._exit(1)
    log.info("received %s", signal.Signals(signum).name)
    done.set()
