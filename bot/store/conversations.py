"""`ConversationRepo`: conversations in the store (contacts and agent state have repositories of
their own, `contacts.py` and `agent_state.py`, which the repo reaches as `.contacts` and `.agents`).

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
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bot.domain.agents import Roster
from bot.domain.conversation import (
    Conversation,
    State,
    Transition,
    new_conversation,
)
from bot.domain.events import Event
from bot.store.agent_state import AgentRecord, AgentStateRepo
from bot.store.contacts import Contact, ContactRepo
from bot.store.conversation_queries import ConversationQueries
from bot.store.conversation_rows import (
    SAVE_METRICS,
    from_row,
    metrics_row,
    state_row,
)
from bot.store.engine import insert_ignore
from bot.store.schema_conversations import (
    contacts,
    conversations,
    counters,
)
from bot.store.seats import SeatHistory
from bot.store.store import Store

NUMBER_COUNTER = "conversation_number"


def _now() -> datetime:
    return datetime.now(UTC)


class ConversationRepo(ConversationQueries):
    def __init__(self, store: Store) -> None:
        self.store = store
        self.contacts = ContactRepo(store)
        self.agents = AgentStateRepo(store)
        self.seat_history = SeatHistory(store)

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
                    return from_row(existing), False
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
                )
                conn.execute(
                    conversations.insert().values(
                        number=number,
                        updated_at=_now(),
                        **state_row(conv),
                        **metrics_row(conv.metrics),
                    )
                )
                self._append(conn, event)
                self.contacts.touch(conn, contact_username, at, contact_id, contact_name)
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
        return from_row(row) if row else None

    def seats(self, number: int) -> list[dict[str, Any]]:
        """The conversation's seat history: username, role, started_at, ended_at."""
        return self.seat_history.of(number)

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
                .values(updated_at=_now(), **state_row(conversation))
            )
            if updated.rowcount != 1:  # SQLite: cannot happen; PostgreSQL: a writer in between
                raise _Conflict
            self._append(conn, event)
            self.seat_history.record(
                conn, conversation, before.agent, json.loads(before.invited or "[]"), at
            )
            serving_now = conversation.state is State.SERVING and conversation.agent
            if serving_now and conversation.agent != before.agent:
                self.agents.record_assignment(conn, conversation.agent, conversation.department, at)
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
            {"n": c.number, **{f"p_{col}": v for col, v in metrics_row(c.metrics).items()}}
            for c in convs
        ]
        if not rows:
            return
        if conn is not None:
            conn.execute(SAVE_METRICS, rows)
            return
        with self.store.transaction() as own:
            own.execute(SAVE_METRICS, rows)

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

    # --- agents and contacts (their own repositories; these keep the repo's one face) ----------
    def set_availability(self, username: str, availability: str) -> None:
        self.agents.set_availability(username, availability)

    def agent_records(self) -> dict[str, AgentRecord]:
        return self.agents.agent_records()

    def routing_counters(self) -> dict[tuple[str | None, str], int]:
        """(department or None for the public queue, username) → assignment count."""
        return self.agents.routing_counters()

    def contact(self, username: str) -> Contact | None:
        return self.contacts.contact(username)

    def update_contact(
        self, username: str, *, at: datetime | None = None, **values: Any
    ) -> Contact:
        """`ContactRepo.update_contact`."""
        return self.contacts.update_contact(username, at=at, **values)

    def conversation_count(self, username: str) -> int:
        return self.contacts.conversation_count(username)

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
