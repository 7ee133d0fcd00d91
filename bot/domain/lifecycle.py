"""Hold, resume, close, and the changes that keep who serves: invite, info, transcript wishes
(rules §5-§7)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Self

from bot.domain.errors import Refused
from bot.domain.states import AGENT, CONTACT, PRIORITY_WEIGHTS, State
from bot.domain.transition import Revisable, Transition


class Lifecycle(Revisable):
    """The transitions that hold, resume or close a conversation, or change its details."""

    __slots__ = ()

    def hold(
        self, by: str, at: datetime, *, agent_engagement_only: bool = True
    ) -> Transition[Self]:
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

    def resume(self, by: str, at: datetime, *, automatic: bool = False) -> Transition[Self]:
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

    def resume_elsewhere(self, by: str, at: datetime, agent: str | None) -> Transition[Self]:
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
    ) -> Transition[Self]:
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

    def invite(self, user: str, by: str, at: datetime) -> Transition[Self]:
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
    ) -> Transition[Self]:
        """Topic / priority / tags (issue 6). `priority=False` leaves it, `None` clears it."""
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
        if tags != self.tags:
            data["tags"] = list(tags)
        return self._next("info", by, at, data=data, **changes)

    def request_transcript(
        self, by: str, at: datetime, *, pdf: bool = False, email: str | None = None
    ) -> Transition[Self]:
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
