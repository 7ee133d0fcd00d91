"""Arming the timers: plan a conversation's timers with the policy and write only the jobs whose
time changes; messages mark rooms dirty and a flush re-arms each once (see scheduler.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.domain import Conversation, State, Transition, sla
from bot.services.timers import sla_firing
from bot.services.timers.jobstore import TimerScheduler
from bot.services.timers.policy import (
    AGENT_OFFLINE,
    CONVERSATION_KINDS,
    CSAT_SURVEY,
    Due,
    agent_offline_due,
    due,
    job_id,
    parse_job_id,
)

log = logging.getLogger("omnicat.timers")

ALERTED = "timers:queue-alerted:"


class TimerState:
    """What `TimerService` holds, declared once for the mixins it is made of."""

    if TYPE_CHECKING:  # what `TimerService`, which this is a base of, holds
        services: Any  # a `bot.services.build.Core`
        store: Any
        repo: Any
        clock: Callable[[], datetime]
        key: str
        scheduler: TimerScheduler | None
        _armed: dict[str, datetime]
        _lock: threading.RLock
        _dirty_rooms: set[str]
        _dirty_contacts: set[str]
        _dirty_lock: threading.Lock
        flush_every: float
        _stopping: threading.Event

        @property
        def config(self) -> Any: ...

        def _write(self, put: list[tuple[str, str, str, datetime]], drop: list[str]) -> None: ...


class TimerArming(TimerState):
    """Plan, arm, re-arm and cancel; the workflow's and dispatcher's events that re-arm."""

    def _alerted(self, conv: Conversation, timers: Any) -> bool:
        # Only an `alert` queue timer depends on it: skip the read for everything else.
        if conv.state is not State.QUEUED or conv.queued_at is None:
            return False
        if timers.queue_max_wait.action != "alert":
            return False
        return self.store.kv_get(ALERTED + str(conv.number)) == conv.queued_at.isoformat()

    def plan(self, conv: Conversation) -> dict[str, Due]:
        """The timers armed for `conv` by the policy (what `/timers` reports)."""
        return self._plan(conv, self.config.timers_for(conv.department))

    def _plan(self, conv: Conversation, timers: Any) -> dict[str, Due]:
        warn_before = self.config.sla.warn_before
        return due(
            conv,
            timers,
            alerted=self._alerted(conv, timers),
            sla_warn_before=warn_before,
            sla_warned=self._sla_warned(conv, warn_before),
        )

    def _sla_warned(self, conv: Conversation, warn_before: Any) -> bool:
        # Read only while a warning could still be armed: an unanswered served chat with an SLA.
        if sla.warning_due(conv, warn_before) is None:
            return False
        return sla_firing.warned(self.store, conv)

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
                and p[0] not in (AGENT_OFFLINE, CSAT_SURVEY)
                and (not p[1].isdigit() or int(p[1]) not in convs)
            ]
            self._write([], stale)
            self._rearm(convs, lazy=False)

    def _schedule(self, jid: str, kind: str, subject: str, at: datetime) -> None:
        self._write([(jid, kind, subject, at)], [])

    def survey_at(self, number: int, at: datetime) -> None:
        """Arm the read of closed livechat chat #number's survey (`Satisfaction`)."""
        with self._lock:
            self._schedule(job_id(CSAT_SURVEY, number), CSAT_SURVEY, str(number), at)

    def cancel(self, jid: str) -> None:
        """Cancel one timer by job id (`<kind>:<number>`); nothing armed costs no query."""
        self._cancel(jid)

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
