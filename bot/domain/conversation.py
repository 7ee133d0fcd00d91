"""The conversation state machine.

A `Conversation` is immutable. Every transition returns a `Transition` (the new conversation,
with `revision + 1`, and the `Event` to log) or raises `Refused`. The caller saves it with the
store's compare-and-set on the *old* revision, so a transition decided on stale data is never
applied: it reloads and decides again, and then gets the right refusal ("already taken by …").

The transitions live by purpose in `handover.py` (who serves) and `lifecycle.py` (hold, resume,
close, details); the states and metrics in `states.py`. Capacity and availability are not checked
here (they need the roster); see `agents.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain.events import Event
from bot.domain.handover import Handover
from bot.domain.lifecycle import Lifecycle
from bot.domain.states import (
    AGENT,
    CONTACT,
    KEEP,
    OPEN_STATES,
    PRIORITY_WEIGHTS,
    Metrics,
    State,
)
from bot.domain.transition import Transition

__all__ = [
    "AGENT",
    "CONTACT",
    "KEEP",
    "OPEN_STATES",
    "PRIORITY_WEIGHTS",
    "Conversation",
    "Metrics",
    "State",
    "Transition",
    "new_conversation",
]


@dataclass(frozen=True, slots=True)
class Conversation(Handover, Lifecycle):
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
        revision=1,
    )
    event = Event(
        actor=by,
        at=at,
        kind="created",
        conversation=number,
        from_state=None,
        to_state=State.QUEUED.value,
        data={"department": department, "source": source},
    )
    return Transition(conv, event)
