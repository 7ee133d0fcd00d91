"""The conversation state machine.

A `Conversation` is immutable. Every transition returns a `Transition` (the new conversation,
with `revision + 1`, and the `Event` to log) or raises `Refused`. The caller saves it with the
store's compare-and-set on the *old* revision, so a transition decided on stale data is never
applied: it reloads and decides again, and then gets the right refusal ("already taken by …").

Capacity and availability are not checked here (they need the roster); see `agents.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from bot.domain.errors import Refused
from bot.domain.events import Event


class State(StrEnum):
    QUEUED = "queued"
    SERVING = "serving"
    ON_HOLD = "on_hold"
    CLOSED = "closed"


OPEN_STATES = frozenset({State.QUEUED, State.SERVING, State.ON_HOLD})

# Rocket.Chat's priority weights (lower is more urgent); None = not specified (99).
PRIORITY_WEIGHTS: dict[str | None, int] = {
    "highest": 1,
    "high": 2,
    "medium": 3,
    "low": 4,
    "lowest": 5,
    None: 99,
}

KEEP = object()  # "leave the department as it is"

CONTACT = "contact"
AGENT = "agent"


class Transition(NamedTuple):
    conversation: Conversation
    event: Event


@dataclass(frozen=True, slots=True)
class Metrics:
    """Response metrics, updated per message with Rocket.Chat's rules (rules §8.3)."""

    last_contact_message_at: datetime | None = None
    last_agent_reply_at: datetime | None = None
    last_message_by: str | None = None  # CONTACT | AGENT | None; decides whether hold is allowed
    first_response_at: datetime | None = None
    first_response_seconds: float | None = None
    first_reaction_seconds: float | None = None
    response_count: int = 0
    response_total_seconds: float = 0.0
    waiting_response: bool = True

    @property
    def average_response_seconds(self) -> float | None:
        if not self.response_count:
            return None
        return self.response_total_seconds / self.response_count


@dataclass(frozen=True, slots=True)
class Conversation:
    number: int
    contact_username: str
    created_at: datetime
    contact_id: str | None = None
    contact_name: str | None = None
    department: str | None = None  # None = the public queue
    state: State = State.QUEUED
    rid: str | None = None
    source: str = "dm"  # dm | channel | livechat
    agent: str | None = None  # serving agent (stays set while on hold)
    previous_agents: tuple[str, ...] = ()
    invited: tuple[str, ...] = ()
    default_agent: str | None = None  # preferred agent (returning contact)
    queued_at: datetime | None = None
    taken_at: datetime | None = None
    held_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    closer: str | None = None  # agent | contact | bot
    comment: str | None = None  # the closing comment
    tags: tuple[str, ...] = ()
    topic: str | None = None
    priority: str | None = None
    sla: str | None = None  # the SLA policy's name
    sla_due_at: datetime | None = None  # first response due (rules §11)
    sla_breached_at: datetime | None = None  # recorded by the timer, never by a transition
    transcript_pdf: bool = False
    transcript_email: str | None = None
    metrics: Metrics = field(default_factory=Metrics)
    revision: int = 0

    # --- derived ------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        return f"#{self.number}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def counts_for_capacity(self) -> bool:
        """Held chats free the agent's slot (rules §1.5)."""
        return self.state is State.SERVING and self.agent is not None

    @property
    def priority_weight(self) -> int:
        return PRIORITY_WEIGHTS.get(self.priority, 99)

    def members(self) -> tuple[str, ...]:
        """Agents with a seat in the room (serving + invited)."""
        seats = (self.agent,) if self.agent else ()
        return seats + tuple(u for u in self.invited if u != self.agent)

    def queue_seconds(self, now: datetime) -> float:
        """Rules §8.2: queued (or created) until taken, else now, else closed."""
        start = self.queued_at or self.created_at
        if self.taken_at and self.taken_at >= start:
            end = self.taken_at
        elif self.is_open:
            end = now
        else:
            end = self.closed_at or now
        return max(0.0, (end - start).total_seconds())

    def chat_seconds(self, now: datetime) -> float:
        return max(0.0, ((self.closed_at or now) - self.created_at).total_seconds())

    def service_seconds(self, now: datetime) -> float | None:
        if not self.taken_at:
            return None
        return max(0.0, ((self.closed_at or now) - self.taken_at).total_seconds())

    def inactivity_seconds(self, now: datetime) -> float | None:
        """Time since the agent last wrote, while the contact is not waiting (rules §8.1)."""
        m = self.metrics
        if m.waiting_response or not m.last_agent_reply_at:
            return None
        return max(0.0, (now - m.last_agent_reply_at).total_seconds())

    # --- helpers ------------------------------------------------------------------------------
    def _next(
        self,
        kind: str,
        actor: str,
        at: datetime,
        note: str | None = None,
        data: dict | None = None,
        **changes: object,
    ) -> Transition:
        """The next revision with `changes`, and its event (`note` = the event's comment)."""
        new = replace(self, revision=self.revision + 1, **changes)  # type: ignore[arg-type]
        event = Event(
            actor=actor,
            at=at,
            kind=kind,
            conversation=self.number,
            from_state=self.state.value,
            to_state=new.state.value,
            comment=note or None,
            data=data or {},
        )
        return Transition(new, event)

    def _ensure_open(self) -> None:
        if self.state is State.CLOSED:
            raise Refused(
                f"Conversation {self.label} is already closed.", "error-room-already-closed"
            )

    def _ensure_not_held(self, action: str) -> None:
        if self.state is State.ON_HOLD:
            raise Refused(
                f"Conversation {self.label} is on hold; resume it before you {action} it.",
                "error-room-onHold",
            )

    def _leaving(self) -> tuple[str, ...]:
        if self.agent and self.agent not in self.previous_agents:
            return (*self.previous_agents, self.agent)
        return self.previous_agents

    # --- transitions --------------------------------------------------------------------------
    def take(
        self, agent: str, at: datetime, *, by: str | None = None, routed: bool = False
    ) -> Transition:
        """queued → serving. `by` is who acted (an agent taking, or the bot routing)."""
        self._ensure_open()
        if self.state is not State.QUEUED:
            if self.agent == agent:
                raise Refused(f"You are already serving {self.label}.", "error-already-serving")
            raise Refused(
                f"Conversation {self.label} was already taken by @{self.agent}.",
                "error-inquiry-taken",
            )
        return self._next(
            "assigned" if routed else "taken",
            by or agent,
            at,
            data={"agent": agent},
            state=State.SERVING,
            agent=agent,
            taken_at=at,
            default_agent=None,
        )

    def assign(
        self, agent: str, at: datetime, *, by: str, department: str | object | None = KEEP
    ) -> Transition:
        """Routing's take: the bot assigns `agent`, possibly in a fallback `department`."""
        new, event = self.take(agent, at, by=by, routed=True)
        if department is not KEEP and department != self.department:
            new = replace(new, department=department)  # type: ignore[arg-type]
            event.data["department"] = department
            event.data["from_department"] = self.department
        return Transition(new, event)

    def move_to(self, department: str | None, by: str, at: datetime) -> Transition:
        """A queued chat moves to its fallback department when nobody can serve it (rules §2.5)."""
        self._ensure_open()
        return self._next(
            "forwarded",
            by,
            at,
            data={
                "scope": "fallback",
                "from_department": self.department,
                "to_department": department,
            },
            department=department,
        )

    def requeue(self, by: str, at: datetime, comment: str | None = None) -> Transition:
        """serving → queued (rules §4). The serving agent leaves the room."""
        self._ensure_open()
        self._ensure_not_held("move back to the queue")
        if self.state is State.QUEUED:
            raise Refused(
                f"Conversation {self.label} is already in the queue.", "error-returning-inquiry"
            )
        return self._next(
            "requeued",
            by,
            at,
            comment,
            # Rocket.Chat records the serving agent as `transferredBy`, not the caller.
            data={"transferred_by": self.agent, "scope": "queue"},
            state=State.QUEUED,
            agent=None,
            previous_agents=self._leaving(),
            invited=(),
            queued_at=at,
            taken_at=None,
        )

    def forward_to_agent(
        self,
        target: str,
        by: str,
        at: datetime,
        comment: str | None = None,
        *,
        target_available: bool = True,
    ) -> Transition:
        """Rules §3.3. The target's capacity is the caller's check (needs the roster)."""
        self._ensure_open()
        self._ensure_not_held("forward")
        if target == self.agent:
            raise Refused(
                f"Conversation {self.label} is already served by @{target}.",
                "error-selected-agent-room-agent-are-same",
            )
        if not target_available:
            raise Refused(f"@{target} is not available right now.", "error-user-is-offline")
        return self._next(
            "forwarded",
            by,
            at,
            comment,
            data={"scope": "agent", "from_agent": self.agent, "to_agent": target},
            state=State.SERVING,
            agent=target,
            previous_agents=self._leaving(),
            invited=tuple(u for u in self.invited if u != target),
            taken_at=at,
        )

    def forward_to_department(
        self,
        target: str,
        by: str,
        at: datetime,
        comment: str | None = None,
        *,
        allowed_targets: Iterable[str] = (),
        agent: str | None = None,
    ) -> Transition:
        """Rules §3.4. `allowed_targets` is the current department's `forward_to` (empty = any).

        `agent` is routing's choice in the target department (computed by the caller first,
        excluding the current agent); None leaves the chat queued there. One event either way.
        """
        self._ensure_open()
        self._ensure_not_held("forward")
        if target == self.department:
            raise Refused(
                f"Conversation {self.label} is already in {target}.",
                "error-forwarding-chat-same-department",
            )
        allowed = tuple(allowed_targets)
        if allowed and target not in allowed:
            raise Refused(
                f"{self.department or 'This queue'} can't forward to {target}; allowed: "
                f"{', '.join(allowed)}.",
                "error-forwarding-department-target-not-allowed",
            )
        data = {
            "scope": "department",
            "from_department": self.department,
            "to_department": target,
            "from_agent": self.agent,
            "to_agent": agent,
        }
        if agent:
            return self._next(
                "forwarded",
                by,
                at,
                comment,
                data=data,
                state=State.SERVING,
                department=target,
                agent=agent,
                previous_agents=self._leaving(),
                invited=(),
                taken_at=at,
            )
        return self._next(
            "forwarded",
            by,
            at,
            comment,
            data=data,
            state=State.QUEUED,
            department=target,
            agent=None,
            previous_agents=self._leaving(),
            invited=(),
            queued_at=at,
            taken_at=None,
        )

    def hold(self, by: str, at: datetime, *, agent_engagement_only: bool = True) -> Transition:
        """serving → on_hold (rules §5.2, checks in Rocket.Chat's order)."""
        self._ensure_open()
        if self.state is State.ON_HOLD:
            raise Refused(
                f"Conversation {self.label} is already on hold.", "error-room-is-already-on-hold"
            )
        if agent_engagement_only and self.metrics.last_message_by == CONTACT:
            raise Refused(
                "You can place a chat on hold only after you've replied to the contact.",
                "error-cannot-place-chat-on-hold",
            )
        if self.state is not State.SERVING:
            raise Refused(
                f"Conversation {self.label} is not being served, so it can't be placed on hold.",
                "error-unserved-rooms-cannot-be-placed-onhold",
            )
        return self._next("held", by, at, state=State.ON_HOLD, held_at=at)

    def _ensure_resumable(self) -> None:
        self._ensure_open()
        if self.state is not State.ON_HOLD:
            raise Refused(f"Conversation {self.label} is not on hold.", "error-room-not-on-hold")
        if not self.agent:
            raise Refused(f"Conversation {self.label} is not served.", "error-room-not-served")

    def resume(self, by: str, at: datetime, *, automatic: bool = False) -> Transition:
        """on_hold → serving with the same agent. Capacity is the caller's check."""
        self._ensure_resumable()
        return self._next(
            "resumed",
            by,
            at,
            data={"automatic": automatic, "agent": self.agent},
            state=State.SERVING,
            held_at=None,
        )

    def resume_elsewhere(self, by: str, at: datetime, agent: str | None) -> Transition:
        """Automatic resume when the held chat's agent is offline or full (rules §5.3):
        to routing's `agent`, or back to the queue when None."""
        self._ensure_resumable()
        data = {"automatic": True, "from_agent": self.agent, "agent": agent}
        if agent:
            return self._next(
                "resumed",
                by,
                at,
                data=data,
                state=State.SERVING,
                agent=agent,
                held_at=None,
                previous_agents=self._leaving(),
                invited=(),
                taken_at=at,
            )
        return self._next(
            "resumed",
            by,
            at,
            data=data,
            state=State.QUEUED,
            agent=None,
            held_at=None,
            previous_agents=self._leaving(),
            invited=(),
            queued_at=at,
            taken_at=None,
        )

    def close(
        self,
        by: str,
        at: datetime,
        comment: str | None = None,
        *,
        tags: Iterable[str] = (),
        closer: str = AGENT,
        require_comment: bool = True,
        require_tags: bool = False,
        closing_tags: Iterable[str] = (),
        pdf: bool = False,
        email: str | None = None,
        command: str | None = None,
    ) -> Transition:
        """Any open state → closed (rules §6.2).

        The comment and tag rules apply to people (`closer` agent); the bot's automatic closes
        (timers) bring their own comment and must never be blocked by tag rules. When the
        department lists `closing_tags`, a required tag must be one of them. `command` is the
        close command as the caller types it (e.g. "/close"): the domain knows no prefix, so
        without it the refusals name no syntax.
        """
        self._ensure_open()
        comment = (comment or "").strip() or None
        final_tags = tuple(dict.fromkeys((*self.tags, *(t.strip() for t in tags if t.strip()))))
        if closer == AGENT:
            if require_comment and not comment:
                example = f", e.g. {command} solved by reset" if command else ""
                raise Refused(
                    f"Please add a comment to close the conversation{example}.",
                    "error-comment-is-required",
                )
            if require_tags:
                known = tuple(closing_tags)
                if not final_tags or (known and not set(final_tags) & set(known)):
                    hint = f" (one of: {', '.join(known)})" if known else ""
                    how = ": add tags=…" if command else ""
                    raise Refused(
                        f"Tags must be assigned before closing{how}{hint}.",
                        "error-tags-must-be-assigned-before-closing-chat",
                    )
        return self._next(
            "closed",
            by,
            at,
            comment,
            data={
                "closer": closer,
                "tags": list(final_tags),
                "pdf": pdf,
                "email": email,
                "agent": self.agent,
            },
            state=State.CLOSED,
            closed_at=at,
            closed_by=by,
            closer=closer,
            comment=comment,
            tags=final_tags,
            held_at=None,
            transcript_pdf=self.transcript_pdf or pdf,
            transcript_email=email or self.transcript_email,
        )

    def invite(self, user: str, by: str, at: datetime) -> Transition:
        """Another agent joins the room without changing who serves (rules §7)."""
        self._ensure_open()
        if user == self.agent or user in self.invited:
            raise Refused(
                f"@{user} is already in conversation {self.label}.", "error-already-in-room"
            )
        return self._next("invited", by, at, data={"user": user}, invited=(*self.invited, user))

    def update_info(
        self,
        by: str,
        at: datetime,
        *,
        topic: str | None = None,
        priority: str | bool | None = False,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
        sla: tuple[str, datetime] | bool | None = False,
    ) -> Transition:
        """Topic / priority / tags (issue 6) / SLA (issue 19: `(name, due_at)`). `False`
        leaves a field, `None` clears it."""
        if priority is not False and priority not in PRIORITY_WEIGHTS:
            raise Refused(
                f"Unknown priority {priority!r}; use highest, high, medium, low, lowest or none.",
                "error-invalid-priority",
            )
        removed = set(remove_tags)
        tags = tuple(t for t in dict.fromkeys((*self.tags, *add_tags)) if t not in removed)
        changes: dict[str, object] = {"tags": tags}
        data: dict[str, object] = {}
        if topic is not None:
            changes["topic"] = topic
            data["topic"] = topic
        if priority is not False:
            changes["priority"] = priority
            data["priority"] = priority
        if sla is not False:
            name, due_at = sla if isinstance(sla, tuple) else (None, None)
            changes["sla"] = name
            changes["sla_due_at"] = due_at
            data["sla"] = name
            data["sla_due_at"] = due_at.isoformat() if due_at else None
        if tags != self.tags:
            data["tags"] = list(tags)
        return self._next("info", by, at, data=data, **changes)

    def request_transcript(
        self, by: str, at: datetime, *, pdf: bool = False, email: str | None = None
    ) -> Transition:
        """Record a transcript wish, delivered at close (issue 5)."""
        self._ensure_open()
        return self._next(
            "transcript-requested",
            by,
            at,
            data={"pdf": pdf, "email": email},
            transcript_pdf=self.transcript_pdf or pdf,
            transcript_email=email or self.transcript_email,
        )

    # --- messages (metrics; not transitions, no revision bump) --------------------------------
    def note_message(self, sender: str, at: datetime, *, automatic: bool = False) -> Conversation:
        """Update the response metrics for one non-system message (rules §8.3).

        `sender` is CONTACT or AGENT. Automatic agent-side messages (canned by the bot,
        greetings) are ignored, like `Omnichannel_Metrics_Ignore_Automatic_Messages`.
        """
        m = self.metrics
        if sender == CONTACT:
            return replace(
                self,
                metrics=replace(
                    m,
                    last_contact_message_at=at,
                    last_message_by=CONTACT,
                    waiting_response=True,
                ),
            )
        if sender != AGENT:
            raise ValueError(f"sender must be {CONTACT!r} or {AGENT!r}, not {sender!r}")
        if automatic:
            return self
        changes: dict[str, object] = {
            "last_agent_reply_at": at,
            "last_message_by": AGENT,
            "waiting_response": False,
        }
        lq = m.last_contact_message_at
        answers_new_message = lq is not None and (
            m.last_agent_reply_at is None or lq > m.last_agent_reply_at
        )
        if answers_new_message:
            assert lq is not None
            response = max(0.0, (at - lq).total_seconds())
            changes["response_count"] = m.response_count + 1
            changes["response_total_seconds"] = m.response_total_seconds + response
            if m.first_response_at is None:
                changes["first_response_at"] = at
                changes["first_response_seconds"] = response
                if self.taken_at:
                    changes["first_reaction_seconds"] = max(
                        0.0, (at - self.taken_at).total_seconds()
                    )
        return replace(self, metrics=replace(m, **changes))  # type: ignore[arg-type]


def new_conversation(
    number: int,
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
    sla: str | None = None,
    sla_due_at: datetime | None = None,
) -> Transition:
    """A fresh queued conversation and its `created` event (revision 1)."""
    conv = Conversation(
        number=number,
        contact_username=contact_username,
        created_at=at,
        contact_id=contact_id,
        contact_name=contact_name,
        department=department,
        rid=rid,
        source=source,
        default_agent=default_agent,
        queued_at=at,
        sla=sla,
        sla_due_at=sla_due_at,
        revision=1,
    )
    event = Event(
        actor=by,
        at=at,
        kind="created",
        conversation=number,
        from_state=None,
        to_state=State.QUEUED.value,
        data={"department": department, "source": source}
        | ({"sla": sla, "sla_due_at": sla_due_at.isoformat()} if sla and sla_due_at else {}),
    )
    return Transition(conv, event)
