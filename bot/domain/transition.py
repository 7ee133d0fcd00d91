"""What a transition returns, and the helpers every transition of a `Conversation` uses."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Generic, NamedTuple, Self, TypeVar

from bot.domain.errors import Refused
from bot.domain.events import Event
from bot.domain.states import Metrics, State

C = TypeVar("C")


class Transition(NamedTuple, Generic[C]):
    """The conversation after the transition, and the event to log with it."""

    conversation: C
    event: Event


class Revisable:
    """The base of `Conversation`'s transition groups: the next revision and its event, and the
    checks most transitions start with. No state of its own (a slot-less base of a frozen
    dataclass)."""

    __slots__ = ()
    if TYPE_CHECKING:  # the fields of `Conversation`, which this is a base of
        number: int
        state: State
        department: str | None
        agent: str | None
        previous_agents: tuple[str, ...]
        invited: tuple[str, ...]
        tags: tuple[str, ...]
        metrics: Metrics
        revision: int
        transcript_pdf: bool
        transcript_email: str | None

        @property
        def label(self) -> str: ...

    def _next(
        self,
        kind: str,
        actor: str,
        at: datetime,
        note: str | None = None,
        data: dict | None = None,
        **changes: object,
    ) -> Transition[Self]:
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
