"""What `/monitor` shows: the desk right now, and the queue over the last hours. Pure.

Who sees what (rules §10, `view-livechat-real-time-monitoring` / `view-livechat-analytics`):
managers and admins see every department and the public queue; a monitor sees the departments
they belong to (as an agent, or listed in `departments.<d>.monitors`), as Rocket.Chat limits
monitors to their units' departments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.permissions import ADMIN, MANAGER, Viewer

QUEUED = "queued"


# --- scope ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Scope:
    """`everything` (managers), else exactly `departments` (no public queue)."""

    everything: bool
    departments: frozenset[str] = frozenset()

    def sees(self, department: str | None) -> bool:
        return self.everything or (department is not None and department in self.departments)

    def store_filter(self) -> list[str | None] | None:
        """For the store: None = no filter, else the departments (never the public queue)."""
        return None if self.everything else sorted(self.departments)


def scope_of(viewer: Viewer, monitored: Iterable[str] = ()) -> Scope:
    """Managers and admins see all; anyone else their departments plus those they monitor."""
    if {ADMIN, MANAGER} & set(viewer.roles):
        return Scope(True)
    return Scope(False, frozenset(viewer.departments) | frozenset(monitored))


# --- agents -------------------------------------------------------------------------------------
AVAILABLE, BUSY, AWAY, OFFLINE = "available", "busy", "away", "offline"
STATUSES = (AVAILABLE, BUSY, AWAY, OFFLINE)


def agent_status(availability: str, presence: str, load: int, limit: int) -> str:
    """One word per agent: `offline` (the server says so), `away` (online but not taking chats:
    `/status` not-available, or the server's away), `busy` (the server's busy, or at their
    limit), else `available`."""
    if presence == OFFLINE:
        return OFFLINE
    if availability != AVAILABLE or presence == AWAY:
        return AWAY
    if presence == BUSY or (limit > 0 and load >= limit):
        return BUSY
    return AVAILABLE


@dataclass(frozen=True, slots=True)
class DeskAgent:
    username: str
    status: str
    load: int  # serving chats (held ones do not count, rules §1.5)
    limit: int  # 0 = unlimited


@dataclass(frozen=True, slots=True)
class DeskDepartment:
    name: str | None  # None = the public queue
    waiting: int = 0
    longest_wait_seconds: float | None = None
    serving: int = 0
    on_hold: int = 0
    agents: tuple[DeskAgent, ...] = ()
    sla_breaches: int = 0  # open, unanswered, past the SLA's first-response due time

    def count(self, status: str) -> int:
        return sum(1 for a in self.agents if a.status == status)


# --- the queue over time --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One events row with the conversation's department *now* (`Store`'s join)."""

    conversation: int
    at: datetime
    kind: str
    from_state: str | None
    to_state: str | None
    data: Mapping[str, object]
    department_now: str | None

    @classmethod
    def from_row(cls, row: Sequence[object]) -> QueueEvent:
        """(number, at, kind, from_state, to_state, data JSON, department now)."""
        number, at, kind, src, dst, data, department = row
        return cls(
            int(number),  # type: ignore[call-overload]
            at,  # type: ignore[arg-type]
            str(kind),
            src,  # type: ignore[arg-type]
            dst,  # type: ignore[arg-type]
            json.loads(str(data)) if data else {},
            department,  # type: ignore[arg-type]
        )


@dataclass(frozen=True, slots=True)
class QueueSeries:
    """Buckets of `step` from `start`: the queue length at each bucket's end, the arrivals in it."""

    start: datetime
    step: timedelta
    length: list[int] = field(default_factory=list)
    arrivals: list[int] = field(default_factory=list)

    @property
    def ends(self) -> list[datetime]:
        return [self.start + self.step * (i + 1) for i in range(len(self.length))]


def _moves(events: Sequence[QueueEvent]) -> list[tuple[datetime, str | None, int, bool]]:
    """(at, department, queue delta, is an arrival) per queue entry and exit.

    The department at an event's time is found by walking each conversation's events from now
    backwards: a forward or a fallback move names the department it came from."""
    by_conv: dict[int, list[QueueEvent]] = {}
    for e in events:
        by_conv.setdefault(e.conversation, []).append(e)
    moves: list[tuple[datetime, str | None, int, bool]] = []
    for conv_events in by_conv.values():
        dept = conv_events[-1].department_now
        for e in reversed(conv_events):
            after = dept
            raw = e.data.get("from_department", after)
            before = None if raw is None else str(raw)
            if e.to_state == QUEUED:
                moves.append((e.at, after, +1, e.kind == "created"))
            if e.from_state == QUEUED:
                moves.append((e.at, before, -1, False))
            dept = before
    return moves


def queue_series(
    events: Sequence[QueueEvent],
    waiting_now: int,
    now: datetime,
    hours: int,
    step: timedelta,
    scope: Scope,
) -> QueueSeries:
    """The queue length and the arrivals over the last `hours`, in buckets of `step`, for the
    departments in `scope`. `events` are every conversation event since `now - hours` (oldest
    first); the length is walked back from `waiting_now`, so only that window is read."""
    buckets = int(timedelta(hours=hours) / step)
    start = now - step * buckets
    moves = [m for m in _moves(events) if scope.sees(m[1]) and m[0] >= start]
    length, arrivals = [0] * buckets, [0] * buckets
    # length at a bucket's end = now's length minus every change after that end
    later = 0
    ordered = sorted(moves, key=lambda m: m[0], reverse=True)
    i = 0
    for b in range(buckets - 1, -1, -1):
        end = start + step * (b + 1)
        while i < len(ordered) and ordered[i][0] > end:
            later += ordered[i][2]
            i += 1
        length[b] = max(0, waiting_now - later)
    for at, _dept, _delta, arrival in moves:
        if arrival:
            b = min(buckets - 1, int((at - start) / step))
            arrivals[b] += 1
    return QueueSeries(start, step, length, arrivals)
