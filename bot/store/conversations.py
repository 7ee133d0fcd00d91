"""`ConversationRepo`: conversations, contacts and agent state in the store.

Every transition is saved by `apply` in ONE transaction: a compare-and-set on the conversation's
revision, the events row, the seat history, and the routing bookkeeping. On SQLite the
transaction is `BEGIN IMMEDIATE`, so of two takes at the same instant exactly one finds the
expected revision; the other gets False, reloads, and the domain tells it who won. On PostgreSQL
(READ COMMITTED) the loser's `UPDATE … WHERE revision = :expected` waits for the winner's row
lock, then re-checks against the committed row and matches nothing: the same outcome.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.agents import Roster
from bot.domain.conversation import (
    OPEN_STATES,
    Conversation,
    Metrics,
    State,
    Transition,
    new_conversation,
)
from bot.domain.events import Event
from bot.domain.sla import SlaPolicy
from bot.store.schema_conversations import (
    agent_state,
    contacts,
    conversation_agents,
    conversations,
    counters,
    routing_counters,
)
from bot.store.store import Store, insert_ignore

NUMBER_COUNTER = "conversation_number"
PUBLIC = ""  # routing_counters' key for the public queue


def _now() -> datetime:
    return datetime.now(UTC)


def _dept_key(department: str | None) -> str:
    return PUBLIC if department is None else department


_METRIC_FIELDS = {
    "m_last_contact_message_at": "last_contact_message_at",
    "m_last_agent_reply_at": "last_agent_reply_at",
    "m_last_message_by": "last_message_by",
    "m_first_response_at": "first_response_at",
    "m_first_response_seconds": "first_response_seconds",
    "m_first_reaction_seconds": "first_reaction_seconds",
    "m_response_count": "response_count",
    "m_response_total_seconds": "response_total_seconds",
    "m_waiting_response": "waiting_response",
}


def _state_row(conv: Conversation) -> dict[str, Any]:
    """Columns a transition writes (everything but the number and the metrics)."""
    return {
        "contact_username": conv.contact_username,
        "contact_id": conv.contact_id,
        "contact_name": conv.contact_name,
        "department": conv.department,
        "state": conv.state.value,
        "rid": conv.rid,
        "source": conv.source,
        "agent": conv.agent,
        "previous_agents": json.dumps(list(conv.previous_agents)),
        "invited": json.dumps(list(conv.invited)),
        "default_agent": conv.default_agent,
        "created_at": conv.created_at,
        "queued_at": conv.queued_at,
        "taken_at": conv.taken_at,
        "held_at": conv.held_at,
        "closed_at": conv.closed_at,
        "closed_by": conv.closed_by,
        "closer": conv.closer,
        "comment": conv.comment,
        "tags": json.dumps(list(conv.tags)),
        "topic": conv.topic,
        "priority": conv.priority,
        "sla": conv.sla,
        "sla_due_at": conv.sla_due_at,
        "transcript_pdf": conv.transcript_pdf,
        "transcript_email": conv.transcript_email,
        "revision": conv.revision,
    }


def _metrics_row(m: Metrics) -> dict[str, Any]:
    return {col: getattr(m, attr) for col, attr in _METRIC_FIELDS.items()}


# The per-message statements, built once (building one cost more than running it).
_GET = sa.select(conversations).where(conversations.c.number == sa.bindparam("n")).limit(1)
_BY_ROOM = sa.select(conversations).where(conversations.c.rid == sa.bindparam("rid")).limit(1)
_BY_ROOMS = sa.select(conversations).where(
    conversations.c.rid.in_(sa.bindparam("rids", expanding=True))
)
# `/status`, `/mine` and every agent-scoped check: building it per call cost more than running it
_FOR_AGENT = (
    sa.select(conversations)
    .where(
        conversations.c.agent == sa.bindparam("agent"),
        conversations.c.state.in_(sa.bindparam("states", expanding=True)),
    )
    .order_by(conversations.c.number)
)
_SAVE_METRICS = (
    conversations.update()
    .where(conversations.c.number == sa.bindparam("n"))
    .values({col: sa.bindparam(f"p_{col}") for col in _METRIC_FIELDS})
)


def _from_row(row: Any) -> Conversation:
    r = row._mapping
    return Conversation(
        number=r["number"],
        contact_username=r["contact_username"],
        contact_id=r["contact_id"],
        contact_name=r["contact_name"],
        created_at=r["created_at"],
        department=r["department"],
        state=State(r["state"]),
        rid=r["rid"],
        source=r["source"],
        agent=r["agent"],
        previous_agents=tuple(json.loads(r["previous_agents"] or "[]")),
        invited=tuple(json.loads(r["invited"] or "[]")),
        default_agent=r["default_agent"],
        queued_at=r["queued_at"],
        taken_at=r["taken_at"],
        held_at=r["held_at"],
        closed_at=r["closed_at"],
        closed_by=r["closed_by"],
        closer=r["closer"],
        comment=r["comment"],
        tags=tuple(json.loads(r["tags"] or "[]")),
        topic=r["topic"],
        priority=r["priority"],
        sla=r["sla"],
        sla_due_at=r["sla_due_at"],
        sla_breached_at=r["sla_breached_at"],
        transcript_pdf=bool(r["transcript_pdf"]),
        transcript_email=r["transcript_email"],
        metrics=Metrics(
            **{attr: r[col] for col, attr in _METRIC_FIELDS.items()}
            | {"waiting_response": bool(r["m_waiting_response"])}
        ),
        revision=r["revision"],
    )


@dataclass(frozen=True, slots=True)
class Contact:
    username: str
    first_seen: datetime
    contact_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    last_agent: str | None = None


@dataclass(frozen=True, slots=True)
class AgentRecord:
    username: str
    availability: str
    last_assigned_at: datetime | None


class ConversationRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- create -------------------------------------------------------------------------------
    def create(
        self,
        contact_username: str,
        at: datetime,
        *,
        by: str,
        department: str | None = None,
        contact_id: str | None = None,
        contact_name: str | None = None,
        rid: str | None = None,
        source: str = "dm",
        default_agent: str | None = None,
        sla: SlaPolicy | None = None,
    ) -> tuple[Conversation, bool]:
        """A new queued conversation with the next number, its `created` event and the contact
        row, in one transaction. If the contact already has an open conversation, that one is
        returned with False instead (never two open chats for one contact)."""
        try:
            with self.store.transaction() as conn:
                existing = conn.execute(
                    sa.select(conversations).where(
                        conversations.c.contact_username == contact_username,
                        conversations.c.state != State.CLOSED.value,
                    )
                ).first()
                if existing is not None:
                    return _from_row(existing), False
                number = self._next_number(conn)
                conv, event = new_conversation(
                    number,
                    contact_username,
                    at,
                    by=by,
                    department=department,
                    contact_id=contact_id,
                    contact_name=contact_name,
                    rid=rid,
                    source=source,
                    default_agent=default_agent,
                    sla=sla.name if sla else None,
                    sla_due_at=sla.due_at(at) if sla else None,
                )
                conn.execute(
                    conversations.insert().values(
                        number=number,
                        updated_at=_now(),
                        **_state_row(conv),
                        **_metrics_row(conv.metrics),
                    )
                )
                self._append(conn, event)
                self._touch_contact(conn, contact_username, at, contact_id, contact_name)
            return conv, True
        except sa.exc.IntegrityError:
            # A concurrent create for the same contact won (unique open-contact index).
            existing = self.open_for_contact(contact_username)
            if existing is None:
                raise
            return existing, False

    def _next_number(self, conn: sa.Connection) -> int:
        # Increment first, then read: atomic on any backend (the row lock is held from here).
        hit = conn.execute(
            counters.update()
            .where(counters.c.name == NUMBER_COUNTER)
            .values(value=counters.c.value + 1)
        )
        if not hit.rowcount and not insert_ignore(
            conn, counters, {"name": NUMBER_COUNTER, "value": 1}, ["name"]
        ):  # a concurrent first create made the row: take the next number after it
            conn.execute(
                counters.update()
                .where(counters.c.name == NUMBER_COUNTER)
                .values(value=counters.c.value + 1)
            )
        return conn.execute(
            sa.select(counters.c.value).where(counters.c.name == NUMBER_COUNTER)
        ).scalar_one()

    def attach_room(self, number: int, rid: str) -> Conversation | None:
        """Record the room created for a conversation (the room name needs the number first).
        Not a transition (no event), but it bumps the revision: a transition decided on a
        snapshot from before the room existed writes the whole state row, `rid` included, and
        must lose its compare-and-set (and decide again) rather than erase the room."""
        with self.store.transaction() as conn:
            conn.execute(
                conversations.update()
                .where(conversations.c.number == number)
                .values(rid=rid, revision=conversations.c.revision + 1, updated_at=_now())
            )
            row = conn.execute(
                sa.select(conversations).where(conversations.c.number == number)
            ).first()
        return _from_row(row) if row else None

    # --- read ---------------------------------------------------------------------------------
    def _many(self, query: sa.Select) -> list[Conversation]:
        with self.store.reading() as conn:
            return [_from_row(r) for r in conn.execute(query)]

    def _one(self, query: sa.Select) -> Conversation | None:
        found = self._many(query.limit(1))
        return found[0] if found else None

    def get(self, number: int) -> Conversation | None:
        with self.store.reading() as conn:
            row = conn.execute(_GET, {"n": number}).first()
        return _from_row(row) if row else None

    def by_room(self, rid: str, *, conn: sa.Connection | None = None) -> Conversation | None:
        """The conversation of a room; with `conn`, read inside the caller's transaction."""
        if conn is not None:
            row = conn.execute(_BY_ROOM, {"rid": rid}).first()
        else:
            with self.store.reading() as own:
                row = own.execute(_BY_ROOM, {"rid": rid}).first()
        return _from_row(row) if row else None

    def by_rooms(
        self, rids: Iterable[str], *, conn: sa.Connection | None = None
    ) -> dict[str, Conversation]:
        """The conversations of these rooms (those that have one), by rid; with `conn`, read
        inside the caller's transaction."""
        unique = sorted(set(rids))
        found: dict[str, Conversation] = {}
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.store.reading())
            for start in range(0, len(unique), 500):
                for row in conn.execute(_BY_ROOMS, {"rids": unique[start : start + 500]}):
                    conv = _from_row(row)
                    found[conv.rid or ""] = conv
        return found

    def open_for_contact(self, username: str) -> Conversation | None:
        return self._one(
            sa.select(conversations).where(
                conversations.c.contact_username == username,
                conversations.c.state != State.CLOSED.value,
            )
        )

    def for_contact(self, username: str, *, closed_only: bool = False) -> list[Conversation]:
        """The contact's conversations, newest first."""
        query = sa.select(conversations).where(conversations.c.contact_username == username)
        if closed_only:
            query = query.where(conversations.c.state == State.CLOSED.value)
        return self._many(query.order_by(conversations.c.number.desc()))

    def queued(self, departments: Iterable[str | None] | None = None) -> list[Conversation]:
        """Queued conversations in queue order; `departments` may include None (the public
        queue); None = every department."""
        query = sa.select(conversations).where(conversations.c.state == State.QUEUED.value)
        if departments is not None:
            wanted = list(departments)
            names = [d for d in wanted if d is not None]
            cond = conversations.c.department.in_(names)
            if None in wanted:
                cond = sa.or_(cond, conversations.c.department.is_(None))
            query = query.where(cond)
        return self._many(query.order_by(conversations.c.queued_at, conversations.c.number))

    def for_agent(
        self, username: str, states: Iterable[State | str] = (State.SERVING, State.ON_HOLD)
    ) -> list[Conversation]:
        values = [State(s).value for s in states]
        with self.store.reading() as conn:
            rows = conn.execute(_FOR_AGENT, {"agent": username, "states": values})
            return [_from_row(r) for r in rows]

    def numbers_changed_since(self, since: datetime) -> list[int]:
        """Numbers of the conversations updated at or after `since`, in order."""
        query = (
            sa.select(conversations.c.number)
            .where(conversations.c.updated_at >= since)
            .order_by(conversations.c.number)
        )
        with self.store.reading() as conn:
            return [row[0] for row in conn.execute(query)]

    def open_conversations(self) -> list[Conversation]:
        return self._many(
            sa.select(conversations)
            .where(conversations.c.state.in_([s.value for s in OPEN_STATES]))
            .order_by(conversations.c.number)
        )

    def record_sla_breach(self, number: int, at: datetime, *, actor: str) -> bool:
        """Record that #number breached its SLA at `at`: the column (for `/monitor` and
        reports) and an `sla-breached` event row, once. False if already recorded or
        answered meanwhile (the first response has a time then)."""
        with self.store.transaction() as conn:
            row = conn.execute(
                conversations.update()
                .where(
                    conversations.c.number == number,
                    conversations.c.sla_breached_at.is_(None),
                    conversations.c.sla_due_at.is_not(None),
                    conversations.c.m_first_response_at.is_(None),
                )
                .values(sla_breached_at=at)
                .returning(conversations.c.state, conversations.c.sla)
            ).first()
            if row is None:
                return False
            self._append(
                conn,
                Event(
                    actor=actor,
                    at=at,
                    kind="sla-breached",
                    conversation=number,
                    from_state=row[0],
                    to_state=row[0],
                    data={"sla": row[1]},
                ),
            )
        return True

    def events(self, number: int) -> list[Any]:
        return self.store.events(number)

    def seats(self, number: int) -> list[dict[str, Any]]:
        """The conversation's seat history: username, role, started_at, ended_at."""
        with self.store.reading() as conn:
            rows = conn.execute(
                sa.select(conversation_agents)
                .where(conversation_agents.c.conversation_number == number)
                .order_by(conversation_agents.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]

    # --- write: transitions ---------------------------------------------------------------------
    def transition(
        self,
        number: int,
        decide: Callable[[Conversation], Transition],
        *,
        roster: Roster | None = None,
        attempts: int = 10,
    ) -> Transition:
        """Load, decide, compare-and-set; on a lost race reload and decide again.

        `decide` gets the current conversation and returns a transition or raises `Refused`
        (which propagates: e.g. the loser of a take race gets "already taken by @alice").
        With a `roster`, its lock is held across decide → commit → `roster.observe`, so
        capacity and routing decisions cannot interleave. Raises `LookupError` for an unknown
        number and `RuntimeError` if it keeps losing (never expected in practice).
        """
        lock = roster.lock if roster is not None else contextlib.nullcontext()
        for _ in range(attempts):
            with lock:
                before = self.get(number)
                if before is None:
                    raise LookupError(f"no conversation #{number}")
                result = decide(before)
                if self.commit(result):
                    if roster is not None:
                        roster.observe(before, result.conversation)
                    return result
        raise RuntimeError(f"conversation #{number} kept changing; gave up after {attempts}")

    def commit(self, transition: Transition) -> bool:
        """`apply` for a domain `Transition` (expected revision = the one it was decided on)."""
        conv, event = transition
        return self.apply(conv, event, conv.revision - 1)

    def apply(self, conversation: Conversation, event: Event, expected_revision: int) -> bool:
        """Save a transition if the stored revision is still `expected_revision`; False when
        someone else changed the conversation first (nothing is written then)."""
        try:
            return self._apply(conversation, event, expected_revision)
        except _Conflict:
            return False

    def _apply(self, conversation: Conversation, event: Event, expected_revision: int) -> bool:
        at = event.at
        with self.store.transaction() as conn:
            before = conn.execute(
                sa.select(
                    conversations.c.agent, conversations.c.state, conversations.c.invited
                ).where(
                    conversations.c.number == conversation.number,
                    conversations.c.revision == expected_revision,
                )
            ).first()
            if before is None:
                return False
            updated = conn.execute(
                conversations.update()
                .where(
                    conversations.c.number == conversation.number,
                    conversations.c.revision == expected_revision,
                )
                .values(updated_at=_now(), **_state_row(conversation))
            )
            if updated.rowcount != 1:  # SQLite: cannot happen; PostgreSQL: a writer in between
                raise _Conflict
            self._append(conn, event)
            self._seats(conn, conversation, before.agent, json.loads(before.invited or "[]"), at)
            serving_now = conversation.state is State.SERVING and conversation.agent
            if serving_now and conversation.agent != before.agent:
                self._record_assignment(conn, conversation.agent, conversation.department, at)
            if conversation.state is State.CLOSED and conversation.agent:
                conn.execute(
                    contacts.update()
                    .where(contacts.c.username == conversation.contact_username)
                    .values(last_agent=conversation.agent, updated_at=_now())
                )
        return True

    def save_metrics(
        self, conversation: Conversation, *, conn: sa.Connection | None = None
    ) -> None:
        """Persist the per-message metrics only (no revision check: they are not a transition,
        and transitions never write these columns); with `conn`, in the caller's transaction."""
        self.save_metrics_many([conversation], conn=conn)

    def save_metrics_many(
        self, convs: Iterable[Conversation], *, conn: sa.Connection | None = None
    ) -> None:
        """`save_metrics` for several conversations with one statement."""
        rows = [
            {"n": c.number, **{f"p_{col}": v for col, v in _metrics_row(c.metrics).items()}}
            for c in convs
        ]
        if not rows:
            return
        if conn is not None:
            conn.execute(_SAVE_METRICS, rows)
            return
        with self.store.transaction() as own:
            own.execute(_SAVE_METRICS, rows)

    def _append(self, conn: sa.Connection, event: Event) -> None:
        self.store.append_event(
            event.kind,
            actor=event.actor,
            conversation_id=event.conversation,
            from_state=event.from_state,
            to_state=event.to_state,
            comment=event.comment,
            data=event.data,
            at=event.at,
            conn=conn,
        )

    def _seats(
        self,
        conn: sa.Connection,
        conv: Conversation,
        old_agent: str | None,
        old_invited: list[str],
        at: datetime,
    ) -> None:
        ca = conversation_agents
        closed = conv.state is State.CLOSED
        new_agent = None if closed else conv.agent
        new_invited = set() if closed else set(conv.invited)

        def end(username: str, role: str) -> None:
            conn.execute(
                ca.update()
                .where(
                    ca.c.conversation_number == conv.number,
                    ca.c.username == username,
                    ca.c.role == role,
                    ca.c.ended_at.is_(None),
                )
                .values(ended_at=at)
            )

        def start(username: str, role: str) -> None:
            conn.execute(
                ca.insert().values(
                    conversation_number=conv.number, username=username, role=role, started_at=at
                )
            )

        if old_agent and old_agent != new_agent:
            end(old_agent, "serving")
        if new_agent and new_agent != old_agent:
            start(new_agent, "serving")
        for user in set(old_invited) - new_invited:
            end(user, "invited")
        for user in new_invited - set(old_invited):
            start(user, "invited")

    def _record_assignment(
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

    # --- agents ---------------------------------------------------------------------------------
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

    # --- contacts -------------------------------------------------------------------------------
    def _touch_contact(
        self,
        conn: sa.Connection,
        username: str,
        at: datetime,
        contact_id: str | None,
        name: str | None,
    ) -> None:
        row = conn.execute(sa.select(contacts.c.username).where(contacts.c.username == username))
        if row.first() is None:
            values = {
                "username": username,
                "contact_id": contact_id,
                "name": name,
                "first_seen": at,
                "updated_at": _now(),
            }
            insert_ignore(conn, contacts, values, ["username"])

    def contact(self, username: str) -> Contact | None:
        with self.store.reading() as conn:
            row = conn.execute(sa.select(contacts).where(contacts.c.username == username)).first()
        if row is None:
            return None
        r = row._mapping
        return Contact(
            username=r["username"],
            first_seen=r["first_seen"],
            contact_id=r["contact_id"],
            name=r["name"],
            email=r["email"],
            phone=r["phone"],
            custom_fields=json.loads(r["custom_fields"] or "{}"),
            last_agent=r["last_agent"],
        )

    def update_contact(
        self, username: str, *, at: datetime | None = None, **values: Any
    ) -> Contact:
        """Set contact fields (`name`, `email`, `phone`, `contact_id`, `custom_fields`
        (merged; a None value removes the field)); creates the contact when missing."""
        allowed = {"name", "email", "phone", "contact_id", "custom_fields"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown contact fields: {sorted(unknown)}")
        with self.store.transaction() as conn:
            self._touch_contact(conn, username, at or _now(), values.get("contact_id"), None)
            if "custom_fields" in values:
                current = conn.execute(
                    sa.select(contacts.c.custom_fields).where(contacts.c.username == username)
                ).scalar_one()
                merged = json.loads(current or "{}")
                for key, value in (values.pop("custom_fields") or {}).items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                values["custom_fields"] = json.dumps(merged, sort_keys=True)
            conn.execute(
                contacts.update()
                .where(contacts.c.username == username)
                .values(updated_at=_now(), **values)
            )
        found = self.contact(username)
        assert found is not None
        return found

    def conversation_count(self, username: str) -> int:
        with self.store.reading() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(conversations)
                .where(conversations.c.contact_username == username)
            ).scalar_one()

    # --- start-up ---------------------------------------------------------------------------------
    def roster_state(
        self,
    ) -> tuple[list[Conversation], dict[tuple[str | None, str], int], Mapping[str, datetime]]:
        """What `Roster.load(*repo.roster_state())` needs after a restart."""
        records = self.agent_records()
        last = {u: r.last_assigned_at for u, r in records.items() if r.last_assigned_at}
        return self.open_conversations(), self.routing_counters(), last

    def restore(self, roster: Roster) -> None:
        """Bring a fresh roster up to date after a restart: open-chat counts, routing
        counters, last assignment times and each agent's `/status`. (Presence comes from the
        server, not the store.)"""
        roster.load(*self.roster_state())
        for username, record in self.agent_records().items():
            roster.set_availability(username, record.availability)


class _Conflict(Exception):
    """Internal: the compare-and-set lost after the read (rolls the transaction back)."""
