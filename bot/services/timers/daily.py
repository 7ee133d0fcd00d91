"""Jobs that run every day at a time of day, on the timer service's scheduler (issue 19: the
supervisors' digest).

They live in the same persistent job store as the conversation timers, so a restart keeps them
and a run missed while the bot was down happens once at start (the store's `misfire_grace_time`
and `coalesce`). A job is `run_timer(key, "daily", name)` like any timer, so firing it goes
through `TimerService.fire`; the callbacks themselves are registered in memory by whoever
installs them (`every_day`), and a stored job whose name nobody registered any more (a digest
switched off) is dropped at start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

from apscheduler.triggers.cron import CronTrigger

KIND = "daily"
PREFIX = KIND + ":"  # job ids: `daily:<name>`
# by reference, as APScheduler stores it: the conversation timers' own job function
_RUN = "bot.services.timers.scheduler:run_timer"

Callback = Callable[[datetime], None]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DailyJobs:
    """Mixed into `TimerService`, whose `scheduler`, `_armed`, `_lock`, `key` and `clock` it
    uses; `_daily` holds name -> (trigger, callback)."""

    scheduler: Any
    key: str
    clock: Callable[[], datetime]
    _armed: dict[str, datetime]
    _lock: threading.RLock
    _daily: dict[str, tuple[CronTrigger, Callback]]

    def every_day(self, name: str, at: time, tz: tzinfo, callback: Callback) -> None:
        """Run `callback(now)` every day at `at` in `tz`. Call before or after `start`."""
        trigger = CronTrigger(hour=at.hour, minute=at.minute, timezone=tz)
        with self._lock:
            self._daily[name] = (trigger, callback)
            if self.scheduler is not None:
                self._schedule_daily()

    def _schedule_daily(self) -> None:
        """(Re)store the registered jobs; drop stored ones nobody registered any more."""
        scheduler = self.scheduler
        with self._lock:
            for jid in [j for j in self._armed if j.startswith(PREFIX)]:
                if jid[len(PREFIX) :] not in self._daily:
                    scheduler.remove_jobs([jid])
                    self._armed.pop(jid, None)
            for name, (trigger, _callback) in self._daily.items():
                stored = scheduler.get_job(PREFIX + name)
                if stored is not None and repr(stored.trigger) == repr(trigger):
                    # the same time as before: keep its next run, which may be one missed
                    # while the bot was down (it runs once, now)
                    self._armed[stored.id] = _utc(stored.next_run_time)
                    continue
                job = scheduler.add_job(
                    _RUN,
                    trigger,
                    args=[self.key, KIND, name],
                    id=PREFIX + name,
                    name=PREFIX + name,
                    replace_existing=True,
                )
                if job.next_run_time is None:  # added while the scheduler is paused
                    job.next_run_time = trigger.get_next_fire_time(None, self.clock())
                    scheduler.modify_job(job.id, next_run_time=job.next_run_time)
                self._armed[job.id] = _utc(job.next_run_time)

    def fire_daily(self, name: str, now: datetime, *, advance: bool = False) -> str:
        """Run the job's callback: `ran`, or `moot` when nobody registered it. `advance` moves
        the stored job to its next day, as the scheduler does after running it itself (for
        `fire_due`, which runs due jobs in place)."""
        entry = self._daily.get(name)
        if entry is None:
            return "moot"
        entry[1](now)
        if advance and self.scheduler is not None:
            following = entry[0].get_next_fire_time(None, now + timedelta(seconds=1))
            with self._lock:
                self.scheduler.modify_job(PREFIX + name, next_run_time=following)
                self._armed[PREFIX + name] = _utc(following)
        return "ran"
