"""Daily jobs on the timer service (`TimerService.every_day`, issue 19's digest): stored in the
job store, fired by `fire_due` on the test's clock, kept across a restart (a missed run runs
once), dropped when nobody registers them any more."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from test_timers_workflow import Desk

from bot.services.timers.scheduler import TimerService

JOB = "daily:digest"


def restart(desk: Desk, register: list[datetime] | None) -> None:
    """Stop; start again, registering the digest before the scheduler starts (as the runtime
    does) unless `register` is None."""
    desk.timers.stop()
    desk.timers = TimerService(desk.wf)
    if register is not None:
        desk.timers.every_day("digest", time(8), UTC, register.append)
    desk.timers.start(paused=True)


def test_a_daily_job_runs_at_its_time_survives_restarts_and_can_be_dropped(
    tmp_path: Path,
) -> None:
    desk = Desk(tmp_path)
    try:
        ran: list[datetime] = []
        desk.timers.every_day("digest", time(8), UTC, ran.append)
        first = desk.timers.jobs()[JOB]
        assert (first.hour, first.minute) == (8, 0) and first > datetime.now(UTC)

        restart(desk, ran)  # same time of day: the stored run is kept, not recomputed
        assert desk.timers.jobs()[JOB] == first
        later = first + timedelta(days=2, hours=3)  # two runs missed while "down"
        assert desk.timers.fire_due(now=later) == [("daily", "digest", "ran")]
        assert ran == [later]  # once, not twice
        assert desk.timers.jobs()[JOB] == first + timedelta(days=3)

        restart(desk, None)  # the digest was switched off
        assert JOB not in desk.timers.jobs()
        assert desk.timers.fire("daily", "digest") == "moot"
    finally:
        desk.stop()
