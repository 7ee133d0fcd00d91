"""`AgentStateRepo`: each agent's `/status` and last assignment, and the routing counters
(assignments per department and agent) that round-robin and load balancing read after a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.store.engine import insert_ignore
from bot.store.schema_conversations import agent_state, routing_counters
from bot.store.store import Store

PUBLIC = ""  # routing_counters' key for the public queue


def _now() -> datetime:
    return datetime.now(UTC)


def _dept_key(department: str | None) -> str:
    return PUBLIC if department is None else department


@dataclass(frozen=True, slots=True)
class AgentRecord:
    username: str
    availability: str
    last_assigned_at: datetime | None


class AgentStateRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record_assignment(
        self, conn: sa.Connection, username: str, department: str | None, at: datetime
    ) -> None:
        key = _dept_key(department)
        hit = conn.execute(
            routing_counters.update()
            .where(routing_counters.c.department == key, routing_counters.c.username == username)
            .values(count=routing_counters.c.count + 1)
        )
        row = {"department": key, "username": username, "count": 1}
        if not hit.rowcount and not insert_ignore(
            conn, routing_counters, row, ["department", "username"]
        ):
            conn.execute(
                routing_counters.update()
                .where(
                    routing_counters.c.department == key, routing_counters.c.username == username
                )
                .values(count=routing_counters.c.count + 1)
            )
        self._upsert_agent(conn, username, last_assigned_at=at)

    def _upsert_agent(self, conn: sa.Connection, username: str, **values: Any) -> None:
        values["updated_at"] = _now()
        hit = conn.execute(
            agent_state.update().where(agent_state.c.username == username).values(**values)
        )
        if not hit.rowcount and not insert_ignore(
            conn, agent_state, {"username": username, **values}, ["username"]
        ):
            conn.execute(
                agent_state.update().where(agent_state.c.username == username).values(**values)
            )

    def set_availability(self, username: str, availability: str) -> None:
        with self.store.transaction() as conn:
            self._upsert_agent(conn, username, availability=str(availability))

    def agent_records(self) -> dict[str, AgentRecord]:
        with self.store.reading() as conn:
            rows = conn.execute(sa.select(agent_state)).all()
        return {
            r.username: AgentRecord(r.username, r.availability, r.last_assigned_at) for r in rows
        }

    def routing_counters(self) -> dict[tuple[str | None, str], int]:
        """(department or None for the public queue, username) → assignment count."""
        with self.store.reading() as conn:
            rows = conn.execute(sa.select(routing_counters)).all()
        return {(r.department or None, r.username): r.count for r in rows}
