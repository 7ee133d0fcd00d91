"""What `/report` and the daily digest compute: periods, percentiles, breakdowns. Pure.

One conversation is a `Facts` row (what the store keeps about it, nothing else). The measures
follow Rocket.Chat's definitions (rules §8):

- first response time: `metrics.response.ft`, the contact's last query → the agent's first
  reply (`m_first_response_seconds`);
- response time: `metrics.response.avg`, the conversation's average over the replies that
  answered a new contact message; percentiles are over conversations, as Rocket.Chat's
  analytics average the rooms' averages;
- time in queue: `formatQueuedAt` (§8.2), queued (or created) → taken, else now, else closed;
- handle time: `serviceTimeDuration` (§6.2), taken → closed.

Rocket.Chat's analytics select rooms by creation time (`ts` in the period): so do the counts
*opened*, *served*, *abandoned* and every time measure. *Closed* counts the conversations closed
in the period, whenever they were opened (what a lead asks of "yesterday").

Adding a measure later (satisfaction, SLA breaches) is one `Facts` field, the store column that
fills it, and one row in `MEASURES` or `SCORES`, `CSV_COLUMNS`: the breakdowns, the text, the
charts and the CSV pick it up from those tables.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

NO_DEPARTMENT = "(no department)"
UNSERVED = "(unserved)"
MAX_DAYS = 366  # a longer period is refused: one year of rows is plenty for a chat answer


# --- periods ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in aware datetimes; `label` is what the reader typed, made explicit."""

    start: datetime
    end: datetime
    label: str

    def contains(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


_DAYS = re.compile(r"^(\d{1,3})d$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz)


def parse_period(text: str | None, now: datetime, tz: tzinfo) -> Period:
    """`today` (default), `yesterday`, `7d`/`30d` (any N days back from now), or
    `2026-01-01..2026-01-31` (whole days, both ends included, in `tz`). ValueError with a
    sentence for the reader otherwise."""
    word = (text or "today").strip().lower()
    local_today = now.astimezone(tz).date()
    if word == "today":
        start = _midnight(local_today, tz)
        return Period(start, now, f"today ({local_today:%Y-%m-%d})")
    if word == "yesterday":
        day = local_today - timedelta(days=1)
        return Period(_midnight(day, tz), _midnight(local_today, tz), f"yesterday ({day:%Y-%m-%d})")
    match = _DAYS.match(word)
    if match:
        days = int(match.group(1))
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"Pick between 1d and {MAX_DAYS}d.")
        return Period(now - timedelta(days=days), now, f"the last {days} days")
    match = _RANGE.match(word)
    if match:
        try:
            first, last = (date.fromisoformat(g) for g in match.groups())
        except ValueError:
            raise ValueError(f"'{text}' has a date that does not exist.") from None
        if last < first:
            raise ValueError(f"'{text}' ends before it starts.")
        if (last - first).days + 1 > MAX_DAYS:
            raise ValueError(f"'{text}' is longer than {MAX_DAYS} days.")
        label = f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
        return Period(_midnight(first, tz), _midnight(last + timedelta(days=1), tz), label)
    raise ValueError(
        f"'{text}' is not a period: use today, yesterday, 7d, 30d or YYYY-MM-DD..YYYY-MM-DD."
    )


# --- distributions ---------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between the closest ranks
    (numpy's default, Excel's PERCENTILE.INC); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Distribution:
    count: int = 0
    p50: float | None = None
    p90: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Distribution:
        known = [v for v in values if v is not None]
        if not known:
            return cls()
        return cls(
            len(known), percentile(known, 50), percentile(known, 90), sum(known) / len(known)
        )


# --- one conversation --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Facts:
    """One conversation as the reports see it (a projection of the store's row)."""

    number: int
    created_at: datetime
    department: str | None = None
    agent: str | None = None  # the last serving agent (kept after the close)
    source: str = "dm"
    state: str = "queued"
    queued_at: datetime | None = None
    taken_at: datetime | None = None
    closed_at: datetime | None = None
    served: bool = False  # an agent served it at some point
    tags: tuple[str, ...] = ()
    priority: str | None = None
    first_response_seconds: float | None = None
    response_count: int = 0
    response_total_seconds: float = 0.0
    satisfaction: float | None = None  # the contact's rating 1..5 (CSAT), None = not rated
    sla: str | None = None  # the SLA policy's name
    sla_breached: bool = False  # no first response by the SLA's due time

    @property
    def abandoned(self) -> bool:
        """Closed before any agent served it (the contact left, or a timer closed the wait)."""
        return self.closed_at is not None and not self.served

    def queue_seconds(self, now: datetime) -> float:
        start = self.queued_at or self.created_at
        if self.taken_at and self.taken_at >= start:
            end = self.taken_at
        elif self.closed_at is None:
            end = now
        else:
            end = self.closed_at
        return max(0.0, (end - start).total_seconds())

    @property
    def response_seconds(self) -> float | None:
        if not self.response_count:
            return None
        return self.response_total_seconds / self.response_count

    @property
    def handle_seconds(self) -> float | None:
        if self.closed_at is None or self.taken_at is None:
            return None
        return max(0.0, (self.closed_at - self.taken_at).total_seconds())


@dataclass(frozen=True, slots=True)
class Measure:
    """A time measure shown as p50/p90: `value(facts, now)` in seconds, None = not applicable."""

    key: str
    label: str
    value: Callable[[Facts, datetime], float | None]


MEASURES: tuple[Measure, ...] = (
    Measure("first_response", "First response", lambda f, now: f.first_response_seconds),
    Measure("response", "Response time", lambda f, now: f.response_seconds),
    Measure("queue", "Time in queue", lambda f, now: f.queue_seconds(now)),
    Measure("handle", "Handle time", lambda f, now: f.handle_seconds),
)
#: scores shown as a mean and a count (satisfaction: `Measure("satisfaction", …, f.satisfaction)`)
SCORES: tuple[Measure, ...] = (
    Measure("satisfaction", "Satisfaction", lambda f, now: f.satisfaction),
)


# --- aggregation ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Group:
    """The numbers of one slice (everything, a department, an agent, a tag, an hour)."""

    key: str
    opened: int = 0
    served: int = 0
    abandoned: int = 0
    closed: int = 0
    with_sla: int = 0  # opened with an SLA policy
    sla_breached: int = 0  # of those, no first response by the due time
    measures: dict[str, Distribution] = field(default_factory=dict)
    scores: dict[str, Distribution] = field(default_factory=dict)


Values = dict[int, tuple[float | None, ...]]  # number -> MEASURES' then SCORES' values


def _values(facts: Iterable[Facts], now: datetime) -> Values:
    """Each conversation's measures, once: a conversation is in several groups."""
    every = (*MEASURES, *SCORES)
    return {f.number: tuple(m.value(f, now) for m in every) for f in facts}


def _group(key: str, opened: list[Facts], closed: list[Facts], values: Values) -> Group:
    rows = [values[f.number] for f in opened]
    n = len(MEASURES)
    return Group(
        key=key,
        opened=len(opened),
        served=sum(1 for f in opened if f.served),
        abandoned=sum(1 for f in opened if f.abandoned),
        closed=len(closed),
        with_sla=sum(1 for f in opened if f.sla),
        sla_breached=sum(1 for f in opened if f.sla_breached),
        measures={m.key: Distribution.of(r[i] for r in rows) for i, m in enumerate(MEASURES)},
        scores={s.key: Distribution.of(r[n + i] for r in rows) for i, s in enumerate(SCORES)},
    )


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    total: Group
    by_department: list[Group]
    by_agent: list[Group]
    by_tag: list[Group]
    by_hour: list[Group]  # 24 groups, "00".."23" in the reader's time zone
    rows: list[Facts]  # every conversation behind the numbers (opened or closed in the period)


def _split(
    opened: list[Facts],
    closed: list[Facts],
    keys: Callable[[Facts, bool], Iterable[str]],
    values: Values,
) -> list[Group]:
    """Groups by `keys(facts, is_close)` (a conversation may fall in several, e.g. tags)."""
    o: dict[str, list[Facts]] = {}
    c: dict[str, list[Facts]] = {}
    for f in opened:
        for k in keys(f, False):
            o.setdefault(k, []).append(f)
    for f in closed:
        for k in keys(f, True):
            c.setdefault(k, []).append(f)
    names = sorted(set(o) | set(c))
    groups = [_group(k, o.get(k, []), c.get(k, []), values) for k in names]
    return sorted(groups, key=lambda g: (-g.opened, -g.closed, g.key))


def build_report(facts: Iterable[Facts], period: Period, now: datetime, tz: tzinfo) -> Report:
    rows = sorted({f.number: f for f in facts}.values(), key=lambda f: f.number)
    opened = [f for f in rows if period.contains(f.created_at)]
    closed = [f for f in rows if period.contains(f.closed_at)]
    rows = [f for f in rows if period.contains(f.created_at) or period.contains(f.closed_at)]

    def hour(f: Facts, is_close: bool) -> list[str]:
        at = f.closed_at if is_close else f.created_at
        assert at is not None
        return [f"{at.astimezone(tz).hour:02d}"]

    values = _values(opened, now)
    by_hour = {g.key: g for g in _split(opened, closed, hour, values)}
    return Report(
        period=period,
        total=_group("all", opened, closed, values),
        by_department=_split(opened, closed, lambda f, _: [f.department or NO_DEPARTMENT], values),
        by_agent=_split(opened, closed, lambda f, _: [f.agent or UNSERVED], values),
        by_tag=_split(opened, closed, lambda f, _: f.tags, values),
        by_hour=[by_hour.get(f"{h:02d}") or Group(f"{h:02d}") for h in range(24)],
        rows=rows,
    )


# --- the rows behind the numbers (CSV) ------------------------------------------------------------
def _stamp(value: datetime | None, tz: tzinfo) -> str:
    return "" if value is None else value.astimezone(tz).isoformat(timespec="seconds")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


Column = Callable[[Facts, datetime, tzinfo], object]
#: (header, value); one row per conversation.
CSV_COLUMNS: tuple[tuple[str, Column], ...] = (
    ("number", lambda f, now, tz: f.number),
    ("department", lambda f, now, tz: f.department or ""),
    ("agent", lambda f, now, tz: f.agent or ""),
    ("source", lambda f, now, tz: f.source),
    ("state", lambda f, now, tz: f.state),
    ("created_at", lambda f, now, tz: _stamp(f.created_at, tz)),
    ("taken_at", lambda f, now, tz: _stamp(f.taken_at, tz)),
    ("closed_at", lambda f, now, tz: _stamp(f.closed_at, tz)),
    ("served", lambda f, now, tz: int(f.served)),
    ("abandoned", lambda f, now, tz: int(f.abandoned)),
    ("first_response_seconds", lambda f, now, tz: _seconds(f.first_response_seconds)),
    ("response_seconds", lambda f, now, tz: _seconds(f.response_seconds)),
    ("queue_seconds", lambda f, now, tz: _seconds(f.queue_seconds(now))),
    ("handle_seconds", lambda f, now, tz: _seconds(f.handle_seconds)),
    ("tags", lambda f, now, tz: ";".join(f.tags)),
    ("priority", lambda f, now, tz: f.priority or ""),
    ("satisfaction", lambda f, now, tz: "" if f.satisfaction is None else int(f.satisfaction)),
    ("sla", lambda f, now, tz: f.sla or ""),
    ("sla_breached", lambda f, now, tz: int(f.sla_breached)),
)


def csv_rows(report: Report, now: datetime, tz: tzinfo) -> list[list[object]]:
    """The header, then one row per conversation of the report."""
    header: list[object] = [name for name, _ in CSV_COLUMNS]
    return [header] + [[value(f, now, tz) for _, value in CSV_COLUMNS] for f in report.rows]
