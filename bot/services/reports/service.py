"""`ReportService`: the desk now (`/monitor`), reports over a period (`/report`) and the daily
digest to each department's supervisor room.

It reads the store through `ReportRepo` (indexed reads only), the live roster for who is
online and how loaded, and leaves every rule to the domain (`bot.domain.desk`,
`bot.domain.reports`). Charts are drawn on the caller's thread: the commands that ask for
them answer in the caller's own DM, so only that reader waits for the picture.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.agents import agent_limit
from bot.domain.desk import (
    DeskAgent,
    DeskDepartment,
    QueueSeries,
    Scope,
    agent_status,
    queue_series,
    scope_of,
)
from bot.domain.permissions import Viewer
from bot.domain.reports import Period, Report, build_report, parse_period
from bot.services.reports import charts, text
from bot.services.reports.export import csv_bytes
from bot.store.reports import ReportRepo

log = logging.getLogger("omnicat.reports")

STEP = timedelta(minutes=15)  # the desk chart's buckets
DIGEST = "digest"  # the timer service's daily job name


@dataclass(frozen=True, slots=True)
class Desk:
    departments: list[DeskDepartment]
    series: QueueSeries
    hours: int
    now: datetime
    scope: Scope

    @property
    def waiting(self) -> int:
        return sum(d.waiting for d in self.departments)


@dataclass(frozen=True, slots=True)
class File:
    name: str
    data: bytes
    mime: str
    caption: str = ""


def zone_of(utc_offset: float | None, config: Any) -> tzinfo:
    """The reader's zone: their server `utcOffset` (hours, may be 5.5), else the config's."""
    if utc_offset is not None:
        return timezone(timedelta(hours=float(utc_offset)))
    return ZoneInfo(config.reports.timezone)


class ReportService:
    def __init__(
        self,
        store: Any,
        config: Any,
        roster: Any,
        chat: Callable[[], Any],
        clock: Callable[[], datetime],
    ) -> None:
        self.repo = ReportRepo(store)
        self.config = config
        self.roster = roster
        self._chat = chat
        self.clock = clock

    # --- who sees what -----------------------------------------------------------------------
    def scope(self, viewer: Viewer) -> Scope:
        monitored = [
            name for name, d in self.config.departments.items() if viewer.username in d.monitors
        ]
        return scope_of(viewer, monitored)

    def departments_in(self, scope: Scope) -> list[str]:
        return [d for d in self.config.departments if scope.sees(d)]

    # --- /monitor ------------------------------------------------------------------------------
    def desk(self, scope: Scope, now: datetime | None = None) -> Desk:
        now = now or self.clock()
        hours = self.config.reports.monitor_hours
        rows: dict[str | None, dict[str, Any]] = {}
        for name in self.departments_in(scope):
            rows[name] = {}
        for oc in self.repo.open_counts(scope.store_filter()):
            row = rows.setdefault(oc.department, {})
            row[oc.state] = oc.count
            if oc.state == "queued" and oc.oldest_queued_at is not None:
                row["oldest"] = oc.oldest_queued_at
        breaches = self.repo.sla_breaches(now, scope.store_filter())
        for name in breaches:
            rows.setdefault(name, {})
        departments = []
        for name, row in rows.items():
            oldest = row.get("oldest")
            departments.append(
                DeskDepartment(
                    name=name,
                    waiting=row.get("queued", 0),
                    longest_wait_seconds=(now - oldest).total_seconds() if oldest else None,
                    serving=row.get("serving", 0),
                    on_hold=row.get("on_hold", 0),
                    agents=self._agents(name),
                    sla_breaches=breaches.get(name, 0),
                )
            )
        departments.sort(key=lambda d: (d.name is None, d.name or ""))
        waiting = sum(d.waiting for d in departments)
        events = self.repo.queue_events(now - timedelta(hours=hours))
        series = queue_series(events, waiting, now, hours, STEP, scope)
        return Desk(departments, series, hours, now, scope)

    def _agents(self, department: str | None) -> tuple[DeskAgent, ...]:
        if department is None:
            return ()  # the public queue is everyone's: its agents are listed under theirs
        dept = self.roster.departments.get(department)
        out = []
        for username in dept.agents if dept else ():
            agent = self.roster.agents.get(username)
            if agent is None or agent.is_bot:
                continue
            load = self.roster.open_total.get(username, 0)
            limit = agent_limit(agent.max_chats, self.roster.global_max)
            status = agent_status(str(agent.availability), agent.presence, load, limit)
            out.append(DeskAgent(username, status, load, limit))
        return tuple(out)

    def desk_answer(self, desk: Desk, tz: tzinfo) -> tuple[str, list[File]]:
        body = text.desk_text(
            desk.departments, desk.series, desk.hours, desk.now, tz, desk.scope.everything
        )
        title = text.desk_line(desk.series, desk.waiting, desk.hours)
        chart = charts.queue_chart(desk.series, tz, title)
        stamp = f"{desk.now.astimezone(tz):%Y%m%d-%H%M}"
        return body, [File(f"desk-{stamp}.png", chart, "image/png", title)]

    # --- /report -------------------------------------------------------------------------------
    def period(self, word: str | None, tz: tzinfo, now: datetime | None = None) -> Period:
        return parse_period(word, now or self.clock(), tz)

    def report(
        self,
        scope: Scope,
        period: Period,
        tz: tzinfo,
        *,
        department: str | None = None,
        agent: str | None = None,
        now: datetime | None = None,
    ) -> Report:
        now = now or self.clock()
        wanted = scope.store_filter() if department is None else [department]
        facts = self.repo.facts(period.start, period.end, departments=wanted, agent=agent)
        return build_report(facts, period, now, tz)

    def report_answer(
        self,
        report: Report,
        tz: tzinfo,
        title: str,
        *,
        with_csv: bool = False,
        now: datetime | None = None,
    ) -> tuple[str, list[File]]:
        now = now or self.clock()
        body = text.report_text(report, tz, title)
        zone = text.zone_name(tz, report.period.end)
        stamp = (
            f"{report.period.start.astimezone(tz):%Y%m%d}-{report.period.end.astimezone(tz):%Y%m%d}"
        )
        volume_title = text.counts_line(report.total)
        times_title = text.measure_line(report.total, "first_response")
        files = [
            File(
                f"report-volume-{stamp}.png",
                charts.volume_chart(report, zone, volume_title),
                "image/png",
                volume_title,
            ),
            File(
                f"report-times-{stamp}.png",
                charts.times_chart(report, times_title),
                "image/png",
                times_title,
            ),
        ]
        if with_csv:
            rows = len(report.rows)
            files.append(
                File(
                    f"report-{stamp}.csv",
                    csv_bytes(report, now, tz),
                    "text/csv",
                    f"{rows} conversation(s) behind these numbers",
                )
            )
        return body, files

    # --- the daily digest ------------------------------------------------------------------------
    def digest_zone(self) -> tzinfo:
        return ZoneInfo(self.config.reports.timezone)

    def digest_rooms(self) -> dict[str, list[str | None]]:
        """Room → the departments whose digest goes there (None = the public queue, which goes
        to `timers.supervisor_room` with the departments that have no room of their own)."""
        fallback = self.config.timers.supervisor_room
        rooms: dict[str, list[str | None]] = {}
        for name, d in self.config.departments.items():
            room = d.supervisor_room or fallback
            if room:
                rooms.setdefault(room, []).append(name)
        if fallback:
            rooms.setdefault(fallback, []).append(None)
        return rooms

    def digest(self, now: datetime | None = None) -> dict[str, str]:
        """Post yesterday's numbers to every supervisor room; room → the text posted."""
        now = now or self.clock()
        tz = self.digest_zone()
        period = parse_period("yesterday", now, tz)
        facts = self.repo.facts(period.start, period.end)
        posted: dict[str, str] = {}
        public = any(f.department is None for f in facts) or not self.config.departments
        for room, departments in self.digest_rooms().items():
            reports = [
                (name, build_report([f for f in facts if f.department == name], period, now, tz))
                for name in departments
                if name is not None or public  # no public queue yesterday: no line of zeros
            ]
            body = text.digest_text(period, tz, reports)
            try:
                self._post(room, body)
                posted[room] = body
            except Exception:
                log.warning("cannot post the daily digest in %s", room, exc_info=True)
        return posted

    def _post(self, room: str, body: str) -> None:
        chat = self._chat()
        if room.startswith("@"):
            chat.dm(room[1:], body)
            return
        name = room.lstrip("#")
        rid = next((s.rid for s in chat.subscriptions() if name in (s.name, s.rid)), name)
        chat.send(rid, body)

    def schedule_digest(self, timers: Any) -> bool:
        """Register the digest with the timer service when `reports.digest_at` is set."""
        at = self.config.reports.digest_at
        if not at:
            return False
        if not self.digest_rooms():
            log.warning(
                "reports.digest_at is set but no department has a supervisor_room and "
                "timers.supervisor_room is unset: no digest will be posted"
            )
        hour, minute = (int(p) for p in at.split(":"))
        timers.every_day(DIGEST, time(hour, minute), self.digest_zone(), self.digest)
        return True
