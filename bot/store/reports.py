"""`ReportRepo`: the reads behind `/report`, `/monitor` and the daily digest.

Every query is bounded by an index (migration 19 and the queue index of migration 2), so the
cost follows the period asked for, not the history kept: a month of a 100,000-conversation
store reads that month's rows, and the desk reads only the open conversations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.domain.desk import QueueEvent
from bot.domain.reports import Facts
from bot.store.schema_conversations import conversations as c
from bot.store.schema_runtime import events as e
from bot.store.schema_satisfaction import conversation_ratings as r
from bot.store.store import Store

OPEN = ("queued", "serving", "on_hold")

# What one `Facts` row reads; a new measure adds its column here (satisfaction: the rating).
_FACT_COLUMNS = (
    c.c.number,
    c.c.created_at,
    c.c.department,
    c.c.agent,
    c.c.source,
    c.c.state,
    c.c.queued_at,
    c.c.taken_at,
    c.c.closed_at,
    c.c.previous_agents,
    c.c.tags,
    c.c.priority,
    c.c.m_first_response_seconds,
    c.c.m_response_count,
    c.c.m_response_total_seconds,
    c.c.sla,
    c.c.sla_breached_at,
    r.c.rating,
)


def _facts(row: sa.Row) -> Facts:
    # by position, in `_FACT_COLUMNS`' order: a month of rows goes through here
    (number, created_at, department, agent, source, state, queued_at, taken_at, closed_at,
     previous_agents, tags, priority, frt, response_count, response_total, sla, breached,
     rating) = row  # fmt: skip
    return Facts(
        number=number,
        created_at=created_at,
        department=department,
        agent=agent,
        source=source,
        state=state,
        queued_at=queued_at,
        taken_at=taken_at,
        closed_at=closed_at,
        # the serving agent stays set after a close; a requeued chat keeps its past agents
        served=bool(agent) or (previous_agents or "[]") != "[]",
        tags=tuple(json.loads(tags)) if tags and tags != "[]" else (),
        priority=priority,
        first_response_seconds=frt,
        response_count=response_count or 0,
        response_total_seconds=response_total or 0.0,
        satisfaction=None if rating is None else float(rating),
        sla=sla,
        sla_breached=breached is not None,
    )


def _in_departments(departments: Sequence[str | None] | None) -> sa.ColumnElement[bool] | None:
    if departments is None:
        return None
    names = [d for d in departments if d is not None]
    cond = c.c.department.in_(names)
    return sa.or_(cond, c.c.department.is_(None)) if None in departments else cond


@dataclass(frozen=True, slots=True)
class OpenCount:
    department: str | None
    state: str
    count: int
    oldest_queued_at: datetime | None


class ReportRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def facts(
        self,
        start: datetime,
        end: datetime,
        *,
        departments: Sequence[str | None] | None = None,
        agent: str | None = None,
    ) -> list[Facts]:
        """Conversations opened or closed in [start, end); `departments` None = all."""
        window = sa.or_(
            sa.and_(c.c.created_at >= start, c.c.created_at < end),
            sa.and_(c.c.closed_at >= start, c.c.closed_at < end),
        )
        # the rating rides along by primary key: an outer join costs one lookup per row
        query = (
            sa.select(*_FACT_COLUMNS)
            .select_from(c.outerjoin(r, r.c.conversation_number == c.c.number))
            .where(window)
        )
        scope = _in_departments(departments)
        if scope is not None:
            query = query.where(scope)
        if agent is not None:
            query = query.where(c.c.agent == agent)
        with self.store.reading() as conn:
            return [_facts(r) for r in conn.execute(query.order_by(c.c.number))]

    def open_counts(self, departments: Sequence[str | None] | None = None) -> list[OpenCount]:
        """Per department and open state: how many, and the oldest `queued_at` (a covering
        read of the queue index: state, department, queued_at)."""
        query = (
            sa.select(c.c.department, c.c.state, sa.func.count(), sa.func.min(c.c.queued_at))
            .where(c.c.state.in_(OPEN))
            .group_by(c.c.department, c.c.state)
        )
        scope = _in_departments(departments)
        if scope is not None:
            query = query.where(scope)
        with self.store.reading() as conn:
            rows = conn.execute(query).all()
        # min() over a TypeDecorator column comes back raw on SQLite: coerce like the column
        to_dt = c.c.queued_at.type.process_result_value
        out = []
        for dept, state, count, oldest in rows:
            if isinstance(oldest, str):
                oldest = datetime.fromisoformat(oldest)
            out.append(OpenCount(dept, state, count, to_dt(oldest, None) if oldest else None))
        return out

    def sla_breaches(
        self, now: datetime, departments: Sequence[str | None] | None = None
    ) -> dict[str | None, int]:
        """Open conversations past their SLA's first-response due time with no answer yet,
        per department (the open rows only: the queue index's `state` leads)."""
        query = (
            sa.select(c.c.department, sa.func.count())
            .where(
                c.c.state.in_(OPEN),
                c.c.sla_due_at <= now,
                c.c.m_first_response_at.is_(None),
            )
            .group_by(c.c.department)
        )
        scope = _in_departments(departments)
        if scope is not None:
            query = query.where(scope)
        with self.store.reading() as conn:
            return {dept: count for dept, count in conn.execute(query)}

    def queue_events(self, since: datetime) -> list[QueueEvent]:
        """Every conversation event since `since`, oldest first, with the conversation's
        department now (the desk walks departments back from there)."""
        query = (
            sa.select(
                c.c.number, e.c.at, e.c.kind, e.c.from_state, e.c.to_state, e.c.data, c.c.department
            )
            .select_from(e.join(c, c.c.number == sa.cast(e.c.conversation_id, sa.Integer)))
            .where(e.c.at >= since)
            .order_by(e.c.id)
        )
        with self.store.reading() as conn:
            return [QueueEvent.from_row(tuple(r)) for r in conn.execute(query)]
