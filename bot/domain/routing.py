"""Who gets a chat: the four routing methods, preferred agents and fallback departments.

Pure decisions over the `Roster`; nothing here changes state. The caller applies the chosen
transition and then calls `roster.observe`, which advances the counters the methods read.
A decision reads the top of a per-department ranking the roster keeps up to date
(`ranking.py`), so it does not grow with the number of agents or chats.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from bot.domain.agents import Roster
from bot.domain.ranking import method_key

MAX_FALLBACK_DEPTH = 3  # Omnichannel_max_fallback_forward_depth


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a chat goes. `agent` None = it waits in `department`'s queue, and under manual
    routing `notify` lists the agents to tell about it."""

    agent: str | None
    department: str | None
    method: str
    notify: tuple[str, ...] = ()
    fallback_path: tuple[str, ...] = ()  # departments passed through, in order

    @property
    def moved(self) -> bool:
        return bool(self.fallback_path)


class Router:
    def __init__(self, roster: Roster, *, public_routing: str = "manual") -> None:
        self.roster = roster
        self.public_routing = public_routing

    def method_of(self, department: str | None) -> str:
        if department is None:
            return self.public_routing
        dept = self.roster.departments.get(department)
        return dept.routing if dept else self.public_routing

    # --- candidates ---------------------------------------------------------------------------
    def _candidates(self, department: str | None, exclude: Collection[str]) -> Iterable[str]:
        r = self.roster
        agents = r.agents
        for username in r.members_of(department):
            if username in exclude:
                continue
            a = agents.get(username)
            if a is not None and a.is_available and r.has_capacity(username, department):
                yield username

    def eligible(self, department: str | None, *, exclude: Collection[str] = ()) -> list[str]:
        """Available department members (everyone for the public queue) with a free slot:
        the agents a manual-routing notification goes to."""
        return list(self._candidates(department, exclude))

    def has_online_agent(self, department: str | None) -> bool:
        agents = self.roster.agents
        return any(
            (a := agents.get(u)) is not None and a.is_available
            for u in self.roster.members_of(department)
        )

    # --- one department -----------------------------------------------------------------------
    def choose(
        self,
        department: str | None,
        *,
        exclude: Collection[str] = (),
        preferred: str | None = None,
        method: str | None = None,
    ) -> str | None:
        """The agent for a chat in `department`, or None (manual routing, or nobody free)."""
        r = self.roster
        if preferred and preferred not in exclude and r.can_serve(preferred, department):
            return preferred
        method = method or self.method_of(department)
        if method == "manual":
            return None
        with r.lock:
            ranking = r.ranking(department, method)
            return ranking.best(exclude, accept=lambda u: r.can_serve(u, department))

    def scan(
        self, department: str | None, *, exclude: Collection[str] = (), method: str | None = None
    ) -> str | None:
        """The same choice as `choose` by a full scan (the reference the rankings are
        tested against)."""
        method = method or self.method_of(department)
        if method == "manual":
            return None
        key = method_key(self.roster, method, department)
        return min(self._candidates(department, exclude), key=key, default=None)

    # --- with fallback ------------------------------------------------------------------------
    def route(
        self, department: str | None, *, exclude: Collection[str] = (), preferred: str | None = None
    ) -> Decision:
        """Route a chat: preferred agent first, then the department's method; when the
        department has no online agent at all, walk its `fallback` chain (at most 3 hops)."""
        path: list[str] = []
        current = department
        seen = {department}
        while True:
            dept = self.roster.departments.get(current) if current else None
            if (
                dept is not None
                and dept.fallback
                and dept.fallback not in seen
                and len(path) < MAX_FALLBACK_DEPTH
                and not self.has_online_agent(current)
            ):
                current = dept.fallback
                path.append(current)
                seen.add(current)
                continue
            break
        # Nobody online along the chain: the chat waits where it was asked for.
        if path and not self.has_online_agent(current):
            current, path = department, []
        method = self.method_of(current)
        agent = self.choose(current, exclude=exclude, preferred=preferred, method=method)
        notify = (
            () if agent or method != "manual" else tuple(self.eligible(current, exclude=exclude))
        )
        return Decision(agent, current, method, notify, tuple(path))
