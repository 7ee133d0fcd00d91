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
import pickle
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import datetime_to_utc_timestamp

from bot.chat.effect_scope import effect_scope, timer_key
from bot.domain import Availability, Conversation, State, Transition
from bot.services import notify
from bot.services.timers import actions, daily
from bot.services.timers.policy import (
    ABANDONED,
    AGENT_OFFLINE,
    CONVERSATION_KINDS,
    ON_HOLD,
    QUEUE_MAX_WAIT,
    UNANSWERED,
    Due,
    agent_offline_due,
    due,
    job_id,
    parse_job_id,
)
from bot.store.schema_timers import TIMER_JOBS as JOB_TABLE

log = logging.getLogger("omnicat.timers")

_ALERTED = "timers:queue-alerted:"
FLUSH_EVERY = 1.0  # seconds between re-arming the conversations messages touched
_CHUNK = 500  # ids per `IN (...)`: well under SQLite's bound-parameter limit

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


class _FencedEngine:
    """The store's engine as the job store sees it under high availability: `begin()` is the
    store's fenced transaction, so an instance that lost the lease cannot remove or rewrite
    the jobs the new active instance armed (APScheduler deletes a rung job's row itself)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def begin(self) -> Any:
        return self._store.transaction()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.engine, name)


class _SharedEngineJobStore(SQLAlchemyJobStore):
    """The job store on the `Store`'s engine, which the store (not the scheduler) closes."""

    def __init__(self, *, store: Any, tablename: str) -> None:
        super().__init__(engine=store.engine, tablename=tablename)
        self._fenced_store = store if getattr(store, "fence", None) is not None else None

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)  # finds the table (migration 6) on the real engine
        if self._fenced_store is not None:
            self.engine = _FencedEngine(self._fenced_store)

    def shutdown(self) -> None:
        pass

    def put_jobs(self, jobs: Sequence[Job]) -> None:
        """Store many jobs, each replacing any job of its id, in one transaction: the rows
        `add_job`/`update_job` write one transaction each."""
        rows = [
            {
                "id": job.id,
                "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
                "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol),
            }
            for job in jobs
        ]
        ids = [row["id"] for row in rows]
        with self.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(
                    self.jobs_t.delete().where(self.jobs_t.c.id.in_(ids[start : start + _CHUNK]))
                )
            conn.execute(self.jobs_t.insert(), rows)

    def remove_jobs(self, ids: Sequence[str]) -> None:
        """Delete many jobs in one transaction; ids not stored (already rung) are no error."""
        with self.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(
                    self.jobs_t.delete().where(self.jobs_t.c.id.in_(ids[start : start + _CHUNK]))
                )


class _Scheduler(BackgroundScheduler):
    """APScheduler 3's loop runs `_process_jobs` once more after `shutdown()` has set
    STOPPED and closed the executors: due jobs then fail to submit and are *removed from the
    job store*, i.e. timers due at shutdown would be lost. Skip that last round."""

    def _process_jobs(self) -> float | None:
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()

    # Batched `add_job(replace_existing=True)` / `remove_job`: a flush after a burst touches
    # thousands of rooms, and one transaction per job was most of its time. Under the
    # scheduler's job store lock, as APScheduler's own, so `_process_jobs` never sees half.
    def put_date_jobs(self, jobs: Iterable[tuple[str, datetime, list[str]]]) -> None:
        """(id, run time, args of `run_timer`) → one date job each, as `add_job` builds it."""
        built = [
            Job(
                self,
                id=jid,
                name=jid,
                func=run_timer,
                args=args,
                kwargs={},
                trigger=(trigger := DateTrigger(run_date=at)),
                executor="default",
                next_run_time=trigger.run_date,
                **self._job_defaults,
            )
            for jid, at, args in jobs
        ]
        if not built:
            return
        with self._jobstores_lock:
            store = self._lookup_jobstore("default")
            assert isinstance(store, _SharedEngineJobStore)
            store.put_jobs(built)
            for job in built:
                job._jobstore_alias = "default"
        if self.state == STATE_RUNNING:
            self.wakeup()  # one of them may be due before the loop's next wake-up

    def remove_jobs(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._jobstores_lock:
            store = self._lookup_jobstore("default")
            assert isinstance(store, _SharedEngineJobStore)
            store.remove_jobs(ids)


@dataclass(frozen=True, slots=True)
class Armed:
    """A timer as `/timers` shows it."""

    kind: str
    at: datetime
    action: str
    subject: str


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TimerService(daily.DailyJobs):
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
        self.scheduler: _Scheduler | None = None
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
        jobstore = _SharedEngineJobStore(store=self.store, tablename=self.table)
        scheduler = _Scheduler(
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
                job.id: _utc(job.next_run_time) for job in scheduler.get_jobs() if job.next_run_time
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

    def install(self, app: Any | None = None) -> TimerService:
        """Hook into the workflow (every transition re-arms) and, with `app`, the dispatcher
        (conversation messages, presence) and `/status` changes."""
        services = self.services
        services.transitions.on_transition(self.on_transition)
        if app is not None:
            app.services.timers = self
            handler = app.conversation_handler

            def on_message(message: Any, kind: str = "conversation") -> None:
                if handler is not None:
                    handler(message, kind)
                self.on_message(message)

            app.conversation_handler = on_message
            intake = app.intake_handler

            def on_intake(message: Any, kind: str) -> None:
                # A new conversation is created, not transitioned: no hook fires for it.
                if intake is not None:
                    intake(message, kind)
                self.on_contact(message.author.username)

            app.intake_handler = on_intake
            presence = app.presence_handler

            def on_presence(user_id: str, username: str, status: str) -> None:
                if presence is not None:
                    presence(user_id, username, status)
                self.agent_changed(username)

            app.presence_handler = on_presence
            # After the workflow's own handler refreshed presences: an agent who went away
            # while we were disconnected sent no presence event we could see.
            app.connected_handlers.append(lambda first: self.check_agents())
        services.presence.on_status(self.agent_changed)
        return self

    # --- arming -----------------------------------------------------------------------------
    def _alerted(self, conv: Conversation, timers: Any) -> bool:
        # Only an `alert` queue timer depends on it: skip the read for everything else.
        if conv.state is not State.QUEUED or conv.queued_at is None:
            return False
        if timers.queue_max_wait.action != "alert":
            return False
        return self.store.kv_get(_ALERTED + str(conv.number)) == conv.queued_at.isoformat()

    def plan(self, conv: Conversation) -> dict[str, Due]:
        """The timers armed for `conv` by the policy (what `/timers` reports)."""
        return self._plan(conv, self.config.timers_for(conv.department))

    def _plan(self, conv: Conversation, timers: Any) -> dict[str, Due]:
        return due(conv, timers, alerted=self._alerted(conv, timers))

    def arm(self, number: int, *, lazy: bool = False) -> dict[str, Due]:
        """Recompute the timers of one conversation and (re)schedule or cancel their jobs."""
        with self._lock:
            # Read under the lock: two re-arms of one conversation apply in read order.
            return self._rearm({number: self.repo.get(number)}, lazy=lazy)[number]

    def _rearm(
        self, convs: dict[int, Conversation | None], *, lazy: bool
    ) -> dict[int, dict[str, Due]]:
        """Plan each conversation (None = gone: cancel all) and write only the jobs whose
        time changes, in one batch. `lazy` keeps a later time's earlier alarm (see the module
        doc). The caller holds `self._lock`."""
        plans: dict[int, dict[str, Due]] = {}
        put: list[tuple[str, str, str, datetime]] = []
        drop: list[str] = []
        timers: dict[str | None, Any] = {}  # merging a department's config is not free
        for number, conv in convs.items():
            plan: dict[str, Due] = {}
            if conv is not None:
                if conv.department not in timers:
                    timers[conv.department] = self.config.timers_for(conv.department)
                plan = self._plan(conv, timers[conv.department])
            plans[number] = plan
            for kind in CONVERSATION_KINDS:
                jid = job_id(kind, number)
                wanted = plan.get(kind)
                current = self._armed.get(jid)
                if wanted is None:
                    if current is not None:
                        drop.append(jid)
                elif current is None or wanted.at < current or (not lazy and wanted.at != current):
                    put.append((jid, kind, str(number), wanted.at))
        self._write(put, drop)
        return plans

    def reconcile(self) -> None:
        """Re-arm every open conversation; drop jobs of conversations that are closed."""
        with self._lock:
            convs = {c.number: c for c in self.repo.open_conversations()}
            stale = [
                jid
                for jid in self._armed
                if (p := parse_job_id(jid)) is not None
                and p[0] != AGENT_OFFLINE
                and (not p[1].isdigit() or int(p[1]) not in convs)
            ]
            self._write([], stale)
            self._rearm(convs, lazy=False)

    def _write(self, put: list[tuple[str, str, str, datetime]], drop: list[str]) -> None:
        """(Re)schedule `put` (id, kind, subject, at) and cancel `drop`, then mirror it in
        `_armed`, which is what lets an unchanged timer cost no SQL at all."""
        if self.scheduler is not None:
            self.scheduler.remove_jobs(drop)
            self.scheduler.put_date_jobs(
                (jid, at, [self.key, kind, subject]) for jid, kind, subject, at in put
            )
            for jid, _kind, _subject, at in put:
                self._armed[jid] = _utc(at)
        for jid in drop:
            self._armed.pop(jid, None)

    def _schedule(self, jid: str, kind: str, subject: str, at: datetime) -> None:
        self._write([(jid, kind, subject, at)], [])

    def _cancel(self, jid: str) -> None:
        # Only what is armed: cancelling nothing costs no query.
        self._write([], [jid] if jid in self._armed else [])

    # --- events -----------------------------------------------------------------------------
    def on_transition(self, before: Conversation | None, result: Transition) -> None:
        """Transition subscriber: every committed transition re-arms its conversation exactly."""
        self.arm(result.conversation.number)

    def on_message(self, message: Any) -> None:
        """After the workflow stored a conversation message: mark the room for `flush`.
        O(1) on purpose, this is the busiest path of the bot."""
        with self._dirty_lock:
            self._dirty_rooms.add(message.rid)

    def on_contact(self, username: str) -> None:
        """After an intake message: the contact's conversation may have just been created
        (a creation is not a transition, no hook fires for it)."""
        with self._dirty_lock:
            self._dirty_contacts.add(username)

    def flush(self) -> int:
        """Re-arm the conversations messages touched since the last flush (each once;
        lazily: only a timer that is new, must fire earlier, or became moot is written).
        Runs every `flush_every` seconds on its own thread, and before any read of the jobs."""
        with self._dirty_lock:
            rooms, self._dirty_rooms = self._dirty_rooms, set()
            contacts, self._dirty_contacts = self._dirty_contacts, set()
        if not rooms and not contacts:
            return 0
        with self._lock:
            # One read for all the rooms; under the lock, like `arm`, so a transition's exact
            # re-arm is never overwritten by an older read.
            convs = {c.number: c for c in self.repo.by_rooms(rooms).values()}
            for username in contacts:
                conv = self.repo.open_for_contact(username)
                if conv is not None:
                    convs[conv.number] = conv
            self._rearm(convs, lazy=True)
        return len(convs)

    def _flush_loop(self) -> None:
        while not self._stopping.wait(self.flush_every):
            try:
                self.flush()
            except Exception:
                log.exception("re-arming timers after messages failed")

    def agent_changed(self, username: str) -> None:
        """Presence or `/status` changed: arm `agent_offline` when the agent stopped being
        available (keeping the first moment), cancel it when they are back."""
        agent = self.services.roster.agents.get(username)
        if agent is None:
            return
        jid = job_id(AGENT_OFFLINE, username)
        with self._lock:
            if agent.is_available:
                if jid in self._armed:
                    self._cancel(jid)
                return
            if jid in self._armed:
                return
            wanted = agent_offline_due(self.clock(), self.config.timers)
            if wanted is not None:
                self._schedule(jid, AGENT_OFFLINE, username, wanted.at)

    def check_agents(self) -> None:
        """Arm `agent_offline` for every agent serving chats who is not available now."""
        for username, agent in list(self.services.roster.agents.items()):
            if not agent.is_available and self.services.roster.open_total.get(username, 0):
                self.agent_changed(username)

    # --- reading ----------------------------------------------------------------------------
    def armed(self, number: int) -> list[Armed]:
        """What is armed for conversation `number` (policy), plus its serving agent's
        `agent_offline` timer, soonest first."""
        self.flush()
        conv = self.repo.get(number)
        if conv is None:
            return []
        out = [Armed(d.kind, d.at, d.action, str(number)) for d in self.plan(conv).values()]
        if conv.agent and conv.state is State.SERVING:
            at = self._armed.get(job_id(AGENT_OFFLINE, conv.agent))
            if at is not None:
                action = self.config.timers.agent_offline.action
                out.append(Armed(AGENT_OFFLINE, at, action, conv.agent))
        return sorted(out, key=lambda a: a.at)

    def jobs(self) -> dict[str, datetime]:
        """Job id → next run time, as stored in the job store."""
        if self.scheduler is None:
            return {}
        self.flush()
        return {j.id: _utc(j.next_run_time) for j in self.scheduler.get_jobs() if j.next_run_time}

    # --- firing -----------------------------------------------------------------------------
    def fire_due(self, now: datetime | None = None) -> list[tuple[str, str, str]]:
        """Run every job due by `now` (the controllable clock): (kind, subject, outcome)."""
        now = now or self.clock()
        due_jobs = sorted(
            ((at, jid) for jid, at in self.jobs().items() if at <= now), key=lambda p: p[0]
        )
        out = []
        for _at, jid in due_jobs:
            if jid.startswith(daily.PREFIX):
                name = jid[len(daily.PREFIX) :]
                out.append((daily.KIND, name, self.fire_daily(name, now, advance=True)))
                continue
            parsed = parse_job_id(jid)
            if parsed is None:
                continue
            kind, subject = parsed
            out.append((kind, subject, self.fire(kind, subject, now=now)))
        return out

    def fire(self, kind: str, subject: str, now: datetime | None = None) -> str:
        """A timer rang: act if it is still due at `now`. Returns what happened:
        `closed`, `held`, `rerouted`, `alerted`, `forwarded`, `later`, `moot`."""
        now = now or self.clock()
        if kind == daily.KIND:
            return self.fire_daily(subject, now)
        jid = job_id(kind, subject)
        with self._lock:
            # A date job is gone once it ran (`fire_due` runs it in place: remove it here);
            # re-arming re-adds it.
            self._cancel(jid)
        if kind == AGENT_OFFLINE:
            return self._fire_agent(subject, now)
        number = int(subject)
        try:
            with self._effect_scope(kind, jid, number):
                return self._fire_conversation(kind, number, now)
        finally:
            self.arm(number)

    def _effect_scope(self, kind: str, jid: str, number: int) -> Any:
        """The firing's effect scope (issue 20): the job and the time it was due, so a firing
        replayed after a crash or a takeover sends its messages under the same ids."""
        conv = self.repo.get(number)
        wanted = self.plan(conv).get(kind) if conv is not None else None
        due = wanted.at.isoformat() if wanted is not None else "moot"
        return effect_scope(timer_key(jid, due))

    def _still_due(self, kind: str, now: datetime) -> Callable[[Conversation], bool]:
        def check(conv: Conversation) -> bool:
            wanted = self.plan(conv).get(kind)
            return wanted is not None and wanted.at <= now

        return check

    def _fire_conversation(self, kind: str, number: int, now: datetime) -> str:
        conv = self.repo.get(number)
        if conv is None:
            return "moot"
        wanted = self.plan(conv).get(kind)
        if wanted is None:
            return "moot"
        if wanted.at > now:
            return "later"  # `arm` in `fire` schedules the new time
        timers = self.config.timers_for(conv.department)
        check = self._still_due(kind, now)
        services = self.services
        done: Conversation | None = None
        if kind == ON_HOLD:
            done = actions.close(services, number, now, timers.on_hold_close_comment, check)
            return "closed" if done else "moot"
        if kind == ABANDONED:
            silent = notify.waited((now - wanted.at + timers.abandoned.after).total_seconds())
            if wanted.action == "hold":
                reason = f"@{conv.contact_username} did not reply for {silent}"
                done = actions.hold(services, number, now, reason, check)
                return "held" if done else "moot"
            done = actions.close(services, number, now, timers.abandoned.comment, check)
            return "closed" if done else "moot"
        if kind == QUEUE_MAX_WAIT:
            waited = notify.waited(conv.queue_seconds(now))
            if wanted.action == "close":
                done = actions.close(
                    services,
                    number,
                    now,
                    f"Closed automatically: no agent took it within {waited}.",
                    check,
                    to_contact=timers.queue_max_wait.message,
                )
                return "closed" if done else "moot"
            assert conv.queued_at is not None
            self.store.kv_set(_ALERTED + str(number), conv.queued_at.isoformat())
            text = (
                f"Conversation #{number} from {notify.contact_label(conv)} in "
                f"{notify.where(conv.department)} has waited {waited} in the queue. "
                f"Room: {services.effects.room_link(conv)}"
            )
            actions.alert(services, timers.supervisor_room, text)
            return "alerted"
        if kind == UNANSWERED:
            after = timers.unanswered_transfer.after.total_seconds()
            reason = f"@{conv.agent} did not answer within {notify.waited(after)}"
            done = actions.reroute(services, number, now, reason, check)
            return "rerouted" if done else "moot"
        return "moot"

    def _fire_agent(self, username: str, now: datetime) -> str:
        cfg = self.config.timers.agent_offline
        if cfg.action == "none" or not self._still_away(username):
            return "moot"
        outcome = "moot"
        for conv in self.repo.for_agent(username, [State.SERVING]):

            def check(c: Conversation, who: str = username) -> bool:
                # Under the roster lock: the roster's word only (the server was asked above).
                agent = self.services.roster.agents.get(who)
                away = agent is None or not agent.is_available
                return c.state is State.SERVING and c.agent == who and away

            if cfg.action == "close":
                done = actions.close(
                    self.services,
                    conv.number,
                    now,
                    f"Closed automatically: @{username} went offline.",
                    check,
                )
                outcome = "closed" if done else outcome
            else:
                done = actions.reroute(
                    self.services, conv.number, now, f"@{username} went offline", check
                )
                outcome = "forwarded" if done else outcome
        return outcome

    def _still_away(self, username: str) -> bool:
        """Not available by `/status`, or offline by the server's word (asked again: after a
        restart the roster's presence is not known until the first refresh)."""
        agent = self.services.roster.agents.get(username)
        if agent is None:
            return False
        if agent.availability is not Availability.AVAILABLE:
            return True
        if agent.presence != "offline":
            return False
        user = self.services.directory.user(username)
        if user is None:
            return True
        try:
            status = self.services.directory.chat.presence(user.id)
        except Exception:
            log.warning("cannot read @%s's presence; assuming offline", username, exc_info=True)
            return True
        if status != "offline":
            self.services.roster.set_presence(username, status)
        return status == "offline"


def install(app: Any, services: Any | None = None, **kw: Any) -> TimerService:
    """Build the timer service on the conversation services (`bot.services.build.Core`; by
    default the app's, `app.services.core`) and hook it in (not started)."""
    return TimerService(services or app.services.core, **kw).install(app)
