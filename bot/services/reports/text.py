"""What `/monitor`, `/report` and the digest say: every sentence in one place.

The chart titles are lines of these texts (`counts_line`, `measure_line`, `desk_line`), so the
picture and the words can never disagree.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from bot.domain.desk import AVAILABLE, AWAY, BUSY, OFFLINE, DeskDepartment, QueueSeries
from bot.domain.reports import MEASURES, NO_DEPARTMENT, SCORES, Group, Period, Report
from bot.services.notify import duration, waited

PUBLIC_QUEUE = "(public queue)"
TOP = 10  # breakdown rows in the text; the CSV has everything


def zone_name(tz: tzinfo, at: datetime) -> str:
    """`UTC`, `UTC+1`, `UTC-5`, `UTC+5:30` for the offset in force at `at`."""
    offset = at.astimezone(tz).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if not minutes:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{mins:02d}" if mins else "")


def local(at: datetime, tz: tzinfo) -> str:
    return f"{at.astimezone(tz):%Y-%m-%d %H:%M}"


# --- /monitor -------------------------------------------------------------------------------------
def _limit(limit: int) -> str:
    return str(limit) if limit else "∞"


def department_lines(d: DeskDepartment) -> list[str]:
    name = d.name or PUBLIC_QUEUE
    longest = f" (longest {waited(d.longest_wait_seconds)})" if d.longest_wait_seconds else ""
    lines = [f"{name}: {d.waiting} waiting{longest} · {d.serving} serving · {d.on_hold} on hold"]
    if d.sla_breaches:
        lines.append(f"  SLA breaches in progress: {d.sla_breaches}")
    if d.agents:
        counts = " · ".join(f"{d.count(s)} {s}" for s in (AVAILABLE, BUSY, AWAY, OFFLINE))
        lines.append(f"  agents: {counts}")
        lines.append(
            "  "
            + " · ".join(f"@{a.username} {a.status} {a.load}/{_limit(a.limit)}" for a in d.agents)
        )
    return lines


def desk_line(series: QueueSeries, waiting: int, hours: int) -> str:
    return f"Waiting now: {waiting} · arrivals in the last {hours}h: {sum(series.arrivals)}"


def desk_text(
    departments: list[DeskDepartment],
    series: QueueSeries,
    hours: int,
    now: datetime,
    tz: tzinfo,
    everything: bool,
) -> str:
    seen = "all departments" if everything else ", ".join(d.name or "" for d in departments)
    lines = [f"Desk at {local(now, tz)} {zone_name(tz, now)} ({seen})"]
    for d in departments:
        lines += department_lines(d)
    lines.append(desk_line(series, sum(d.waiting for d in departments), hours))
    return "\n".join(lines)


# --- /report --------------------------------------------------------------------------------------
def counts_line(g: Group) -> str:
    return f"Opened {g.opened} · served {g.served} · abandoned {g.abandoned} · closed {g.closed}"


def measure_line(g: Group, key: str) -> str:
    m = next(m for m in MEASURES if m.key == key)
    d = g.measures[key]
    if not d.count:
        return f"{m.label}: —"
    chats = "chat" if d.count == 1 else "chats"
    return f"{m.label}: p50 {duration(d.p50)} · p90 {duration(d.p90)} ({d.count} {chats})"


def score_lines(g: Group) -> list[str]:
    out = []
    for s in SCORES:
        d = g.scores[s.key]
        if d.count:
            ratings = "rating" if d.count == 1 else "ratings"
            out.append(f"{s.label}: p50 {d.p50:g} · average {d.mean:.2f} ({d.count} {ratings})")
        else:
            out.append(f"{s.label}: not collected yet")
    return out


def sla_lines(g: Group) -> list[str]:
    """Only when some chat of the period had an SLA policy."""
    if not g.with_sla:
        return []
    chats = "chat" if g.with_sla == 1 else "chats"
    return [f"SLA breaches: {g.sla_breached} of {g.with_sla} {chats} with an SLA"]


def _row(g: Group, name: str) -> str:
    frt = g.measures["first_response"]
    handle = g.measures["handle"]
    parts = [f"{name}: opened {g.opened} · served {g.served} · closed {g.closed}"]
    if frt.count:
        parts.append(f"first response p50 {duration(frt.p50)}")
    if handle.count:
        parts.append(f"handle p50 {duration(handle.p50)}")
    return "  " + " · ".join(parts)


def _section(title: str, groups: list[Group], name=lambda k: k) -> list[str]:
    if not groups:
        return []
    lines = [title] + [_row(g, name(g.key)) for g in groups[:TOP]]
    if len(groups) > TOP:
        lines.append(f"  … and {len(groups) - TOP} more (+csv has them all)")
    return lines


def what(department: str | None, agent: str | None, everything: bool, scope: list[str]) -> str:
    base = department or ("all departments" if everything else ", ".join(scope))
    return base + (f", @{agent}" if agent else "")


def report_text(report: Report, tz: tzinfo, title: str) -> str:
    p = report.period
    zone = zone_name(tz, p.end)
    lines = [
        f"Report for {p.label}: {title}",
        f"{local(p.start, tz)} to {local(p.end, tz)} {zone}",
        counts_line(report.total),
    ]
    lines += [measure_line(report.total, m.key) for m in MEASURES]
    lines += score_lines(report.total)
    lines += sla_lines(report.total)
    lines += _section(
        "By department:",
        report.by_department,
        lambda k: PUBLIC_QUEUE if k == NO_DEPARTMENT else k,
    )
    lines += _section("By agent:", report.by_agent, lambda k: k if k.startswith("(") else f"@{k}")
    lines += _section("By tag:", report.by_tag)
    busy = [g for g in report.by_hour if g.opened]
    if busy:
        hours = " · ".join(f"{g.key}h {g.opened}" for g in busy)
        lines.append(f"Opened by hour of day ({zone}): {hours}")
    return "\n".join(lines)


# --- the daily digest -----------------------------------------------------------------------------
def digest_text(period: Period, tz: tzinfo, reports: list[tuple[str | None, Report]]) -> str:
    """Yesterday per department: the counts, first response and handle time."""
    lines = [f"Daily digest for {period.label}, {zone_name(tz, period.end)}"]
    for name, report in reports:
        lines.append(f"{name or PUBLIC_QUEUE}: {counts_line(report.total)}")
        lines += [f"  {measure_line(report.total, m)}" for m in ("first_response", "handle")]
        lines += [f"  {line}" for line in sla_lines(report.total)]
        if report.total.scores["satisfaction"].count:
            lines += [f"  {line}" for line in score_lines(report.total)]
    return "\n".join(lines)
