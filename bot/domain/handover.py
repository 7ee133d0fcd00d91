"""Who serves a conversation: take, assign, fallback, back to the queue, forward (rules §2-§4)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Self

from bot.domain.errors import Refused
from bot.domain.states import KEEP, State
from bot.domain.transition import Revisable, Transition


class Handover(Revisable):
    """The transitions that change who serves the conversation, or in which department."""

    __slots__ = ()

    def take(
        self, agent: str, at: datetime, *, by: str | None = None, routed: bool = False
    ) -> Transition[Self]:
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
    ) -> Transition[Self]:
        """Routing's take: the bot assigns `agent`, possibly in a fallback `department`."""
        new, event = self.take(agent, at, by=by, routed=True)
        if department is not KEEP and department != self.department:
            new = replace(new, department=department)  # type: ignore[arg-type]
            event.data["department"] = department
            event.data["from_department"] = self.department
        return Transition(new, event)

    def move_to(self, department: str | None, by: str, at: datetime) -> Transition[Self]:
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

    def requeue(self, by: str, at: datetime, comment: str | None = None) -> Transition[Self]:
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
    ) -> Transition[Self]:
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
        sla: tuple[str, datetime] | None = None,
    ) -> Transition[Self]:
        """Rules §3.4. `allowed_targets` is the current department's `forward_to` (empty = any).

        `agent` is routing's choice in the target department (computed by the caller first,
        excluding the current agent); None leaves the chat queued there. One event either way.
        `sla` (name, due time): the policy the chat takes in the target department (issue 19;
        the caller decides, `SlaPolicies.after_forward`); None keeps its SLA.
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
        data: dict[str, object] = {
            "scope": "department",
            "from_department": self.department,
            "to_department": target,
            "from_agent": self.agent,
            "to_agent": agent,
        }
        moved: dict[str, object] = {"department": target}
        if sla is not None:
            moved["sla"], moved["sla_due_at"] = sla
            data["sla"], data["sla_due_at"] = sla[0], sla[1].isoformat()
        if agent:
            return self._next(
                "forwarded",
                by,
                at,
                comment,
                data=data,
                state=State.SERVING,
                agent=agent,
                previous_agents=self._leaving(),
                invited=(),
                taken_at=at,
                **moved,
            )
        return self._next(
            "forwarded",
            by,
            at,
            comment,
            data=data,
            state=State.QUEUED,
            agent=None,
            previous_agents=self._leaving(),
            invited=(),
            queued_at=at,
            taken_at=None,
            **moved,
        )
