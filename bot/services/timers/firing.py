"""A timer rang: act if it is still due (through the same transitions as the commands), and what
`/timers` shows as armed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.chat.effect_scope import effect_scope, timer_key
from bot.domain import Availability, Conversation, State
from bot.services import notify
from bot.services.timers import actions, daily, sla_firing
from bot.services.timers.arming import ALERTED, TimerState
from bot.services.timers.jobstore import utc
from bot.services.timers.policy import (
    ABANDONED,
    AGENT_OFFLINE,
    CSAT_SURVEY,
    ON_HOLD,
    QUEUE_MAX_WAIT,
    SLA_BREACH,
    SLA_WARNING,
    UNANSWERED,
    Due,
    job_id,
    parse_job_id,
)

log = logging.getLogger("omnicat.timers")


@dataclass(frozen=True, slots=True)
class Armed:
    """A timer as `/timers` shows it."""

    kind: str
    at: datetime
    action: str
    subject: str


class TimerFiring(TimerState):
    """Fire due jobs; read what is armed. Needs `plan`, `arm`, `flush` and `_cancel` (arming)."""

    if TYPE_CHECKING:  # what `TimerService`, which this is a base of, holds

        def plan(self, conv: Conversation) -> dict[str, Due]: ...
        def arm(self, number: int, *, lazy: bool = False) -> dict[str, Due]: ...
        def flush(self) -> int: ...
        def _cancel(self, jid: str) -> None: ...
        def survey_at(self, number: int, at: datetime) -> None: ...

        def fire_daily(self, name: str, now: datetime, *, advance: bool = False) -> str: ...

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
        return {j.id: utc(j.next_run_time) for j in self.scheduler.get_jobs() if j.next_run_time}

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
        if kind == CSAT_SURVEY:
            return self._fire_survey(jid, int(subject), now)
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
        if kind == SLA_WARNING and conv is not None:
            # the warning follows the chat: each agent it reaches is a firing of its own
            due += f"@{conv.agent}"
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
            self.store.kv_set(ALERTED + str(number), conv.queued_at.isoformat())
            text = (
                f"Conversation #{number} from {notify.contact_label(conv)} in "
                f"{notify.where(conv.department)} has waited {waited} in the queue. "
                f"Room: {services.effects.room_link(conv)}"
            )
            actions.alert(services, self.config.supervisor_room_for(conv.department), text)
            return "alerted"
        if kind == SLA_WARNING:
            return sla_firing.warn(services, conv, now)
        if kind == SLA_BREACH:
            return sla_firing.breach(services, conv)
        if kind == UNANSWERED:
            after = timers.unanswered_transfer.after.total_seconds()
            reason = f"@{conv.agent} did not answer within {notify.waited(after)}"
            done = actions.reroute(services, number, now, reason, check)
            return "rerouted" if done else "moot"
        return "moot"

    def _fire_survey(self, jid: str, number: int, now: datetime) -> str:
        """Read a closed livechat chat's survey; arm the next read while none came."""
        # the one effect (the agent's note) happens once: the rating is stored compare-and-set
        with effect_scope(timer_key(jid, "rated")):
            outcome, again = self.services.satisfaction.read_survey(number, now)
        if again is not None:
            self.survey_at(number, again)
        return outcome

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
