"""Routing: a queued chat to an agent (preferred agent, department method, fallback chain), the
waiting chats when an agent frees a slot, and under manual routing the agents told.

A chat is not routed while its intake is still opening it (`opening_rooms`) or while one of the
intake's vetoes holds it (livechat: waiting for the visitor's first line; registered with
`add_veto` by whoever builds the services).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from bot.domain import KEEP, Conversation, Refused, Roster, Router, State, Transition, ordered
from bot.services import notify
from bot.services.directory import Directory
from bot.services.effects import Effects
from bot.services.posting import Posting
from bot.services.transitions import NothingToDo, Transitions, one_conversation
from bot.store.conversations import ConversationRepo

RoutingVeto = Callable[[Conversation], bool]


class Routing:
    def __init__(
        self,
        *,
        directory: Directory,
        transitions: Transitions,
        effects: Effects,
        posting: Posting,
        repo: ConversationRepo,
        roster: Roster,
        router: Router,
        clock: Callable[[], Any],
        sorting: str = "timestamp",
    ) -> None:
        self.directory = directory
        self.transitions = transitions
        self.effects = effects
        self.posting = posting
        self.repo = repo
        self.roster = roster
        self.router = router
        self.clock = clock
        self.sorting = sorting  # `routing.sorting`: waiting chats are routed in queue order
        #: rooms whose conversation this process is opening now (livechat: the row exists, the
        #: opening note not yet): neither routable nor takeable until the intake is done
        self.opening_rooms: set[str] = set()
        self._vetoes: list[RoutingVeto] = []

    def add_veto(self, veto: RoutingVeto) -> None:
        """An intake's veto on routing a queued chat (livechat: waiting for the first line)."""
        self._vetoes.append(veto)

    def held_back(self, conv: Conversation) -> bool:
        return any(veto(conv) for veto in self._vetoes)

    @one_conversation
    def route(self, number: int, *, exclude: Iterable[str] = ()) -> Conversation:
        """Route one queued chat: preferred agent, department method, fallback chain. Under
        manual routing the eligible agents are notified. Returns the conversation after."""
        exclude = tuple(exclude)
        decision_box: list[Any] = []
        bot_name = self.directory.bot_name

        def decide(conv: Conversation) -> Transition:
            # no room yet: the intake routes it once the room exists (a seat in no room is lost)
            if conv.state is not State.QUEUED or not conv.rid or conv.rid in self.opening_rooms:
                raise NothingToDo(conv)
            if self.held_back(conv):
                raise NothingToDo(conv)
            decision = self.router.route(
                conv.department, exclude=exclude, preferred=conv.default_agent
            )
            decision_box[:] = [decision]
            if decision.agent:
                dept = decision.department if decision.moved else KEEP
                return conv.assign(decision.agent, self.clock(), by=bot_name, department=dept)
            if decision.moved:
                return conv.move_to(decision.department, bot_name, self.clock())
            raise NothingToDo(conv)

        try:
            before, (after, _event) = self.transitions.transition(number, decide)
        except NothingToDo as nothing:
            conv = nothing.conversation
            if decision_box and conv.state is State.QUEUED:
                self.effects.notify_waiting(conv, decision_box[0].notify)
            return conv
        decision = decision_box[0]
        if decision.moved:
            self.posting.tell_agents(
                after,
                f"Nobody is available in {notify.where(before.department)}; moved to "
                f"{notify.where(decision.department)}.",
                notify.TRANSFER,
            )
        if after.state is State.SERVING:
            self.effects.after_assignment(before, after, "You have been assigned")
        else:
            self.effects.notify_waiting(after, decision.notify)
        return after

    def route_waiting(
        self, departments: Iterable[str | None] | None = None, *, skip: Iterable[int] = ()
    ) -> None:
        """Route queued chats in queue order (auto routings, and preferred agents)."""
        skipped = set(skip)
        for conv in self._waiting(departments):
            if conv.number in skipped:
                continue
            method = self.router.method_of(conv.department)
            if method == "manual" and not conv.default_agent:
                continue
            try:
                self.route(conv.number)
            except Refused:
                continue

    def _waiting(self, departments: Iterable[str | None] | None) -> list[Conversation]:
        wanted = None if departments is None else list(departments)
        return ordered(self.repo.queued(wanted), self.sorting)

    def agent_freed(
        self, username: str, *, became_available: bool = False, skip: Iterable[int] = ()
    ) -> None:
        """An agent became available or freed a slot: route what waits for them; under manual
        routing tell a newly available agent what is waiting."""
        depts: list[str | None] = [None, *sorted(self.roster.departments_of(username))]
        self.route_waiting(depts, skip=skip)
        if not became_available:
            return
        waiting = [
            c
            for c in self._waiting(depts)
            if self.router.method_of(c.department) == "manual"
            and self.roster.can_serve(username, c.department)
        ]
        for conv in waiting[:5]:
            self.effects.notify_waiting(conv, [username])
        if len(waiting) > 5:
            self.posting.dm(username, f"{len(waiting) - 5} more chats are waiting: type /queue.")
