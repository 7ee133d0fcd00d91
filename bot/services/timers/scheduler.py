"""Timers: APScheduler 3 as a persistent alarm clock for the conversation timers.

The decision "what is due when" is `bot.services.timers.policy` (pure). This module only keeps one
APScheduler job per armed timer, in a `SQLAlchemyJobStore` on the bot's own database, so alarms
survive restarts. Job ids are `<kind>:<conversation number>` (or `agent_offline:<username>`):
re-arming replaces the job, nothing doubles. A job that should have fired while the bot was down
fires once at start (`misfire_grace_time=None`, `coalesce=True`).

When a job fires, `TimerService.fire` reloads the conversation and asks the policy again with
the current time; only a timer that is still due acts, through the same compare-and-set
transition as the commands (`bot.services.timers.actions`). Tests drive the clock themselves:
start the scheduler paused and call `fire_due(now=...)`, which runs exactly the jobs due by then.

Messages are the bot's busiest path, so they only mark their room dirty; a flush (every second,
and before anything reads the jobs) re-arms each touched conversation once. It cancels what the
messages made moot and arms what is new or due earlier, but postpones lazily: an agent's every
reply pushes the `abandoned` alarm back, and the old alarm rings instead, finds the timer not
due yet, and re-arms itself for the new time. A timer ringing before the flush is harmless: it
re-reads the conversation. Transitions re-arm exactly, at once.

A flush after a burst may touch thousands of rooms, each with one message: it reads all their
conversations in one statement, plans them with the pure policy, and writes only the jobs whose
time changes, all in one job-store transaction. `_armed` mirrors the job store (loaded at start),
so a timer that did not change, or a cancel of what is not armed, costs no SQL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.services.timers import daily
from bot.services.timers.arming import TimerArming
from bot.services.timers.firing import TimerFiring
from bot.services.timers.jobstore import SharedEngineJobStore, TimerScheduler, utc
from bot.store.schema_timers import TIMER_JOBS as JOB_TABLE

log = logging.getLogger("omnicat.timers")

FLUSH_EVERY = 1.0  # seconds between re-arming the conversations messages touched


# The live services by key (the store URL): a job carries only the key and plain strings,
# because APScheduler pickles its arguments; several bots may share one process (tests).
_SERVICES: dict[str, TimerService] = {}
_SERVICES_LOCK = threading.Lock()


def run_timer(key: str, kind: str, subject: str) -> None:
    """The job function APScheduler stores (by reference): find the service and fire."""
    with _SERVICES_LOCK:
        service = _SERVICES.get(key)
    if service is None:
        log.warning("timer %s:%s fired with no bot running for %s", kind, subject, key)
        return
    try:
        service.fire(kind, subject)
    except Exception:
        log.exception("timer %s:%s failed", kind, subject)


class TimerService(TimerArming, TimerFiring, daily.DailyJobs):
    """One per bot. Thread-safe: hooks run on room workers, jobs on the scheduler's pool."""

    def __init__(
        self,
        services: Any,
        *,
        clock: Callable[[], datetime] | None = None,
        key: str | None = None,
        table: str = JOB_TABLE,
        flush_every: float = FLUSH_EVERY,
    ) -> None:
        self.services = services  # a `bot.services.build.Core`
        self.store = services.store
        self.repo = services.repo
        self.clock = clock or services.clock
        self.key = key or str(self.store.url)
        self.table = table
        self.scheduler: TimerScheduler | None = None
        self._armed: dict[str, datetime] = {}
        self._lock = threading.RLock()
        # Messages only mark their room dirty; `flush` re-arms each dirty conversation once.
        self._dirty_rooms: set[str] = set()
        self._dirty_contacts: set[str] = set()
        self._dirty_lock = threading.Lock()
        self.flush_every = flush_every
        self._flusher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._daily = {}  # `every_day` jobs (bot.services.timers.daily)

    @property
    def config(self) -> Any:
        return self.services.config

    # --- lifecycle ------------------------------------------------------------------------
    def start(self, *, paused: bool = False, reconcile: bool = True) -> TimerService:
        """Open the job store and start the scheduler thread. `paused` = jobs are stored but
        never run by themselves (tests fire them with `fire_due`). `reconcile` re-arms every
        open conversation from the store first (config durations may have changed, and a
        conversation may have changed while the bot was down)."""
        jobstore = SharedEngineJobStore(store=self.store, tablename=self.table)
        scheduler = TimerScheduler(
            jobstores={"default": jobstore},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        with _SERVICES_LOCK:
            _SERVICES[self.key] = self
        self.scheduler = scheduler
        scheduler.start(paused=True)
        with self._lock:
            self._armed = {
                job.id: utc(job.next_run_time) for job in scheduler.get_jobs() if job.next_run_time
            }
        self._schedule_daily()
        if reconcile:
            self.reconcile()
        if not paused:
            scheduler.resume()
            self._stopping.clear()
            self._flusher = threading.Thread(
                target=self._flush_loop, name="omnicat-timers-flush", daemon=True
            )
            self._flusher.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._flusher is not None:
            self._flusher.join(10)
            self._flusher = None
        try:
            self.flush()  # what the last messages changed is armed before we go
        except Exception:
            log.warning("cannot re-arm the last timers at stop", exc_info=True)
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)
        with _SERVICES_LOCK:
            if _SERVICES.get(self.key) is self:
                del _SERVICES[self.key]

    def _write(self, put: list[tuple[str, str, str, datetime]], drop: list[str]) -> None:
        """(Re)schedule `put` (id, kind, subject, at) and cancel `drop`, then mirror it in
        `_armed`, which is what lets an unchanged timer cost no SQL at all."""
        if self.scheduler is not None:
            self.scheduler.remove_jobs(drop)
            self.scheduler.put_date_jobs(
                run_timer, ((jid, at, [self.key, kind, subject]) for jid, kind, subject, at in put)
            )
            for jid, _kind, _subject, at in put:
                self._armed[jid] = utc(at)
        for jid in drop:
            self._armed.pop(jid, None)
