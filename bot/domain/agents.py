"""Agents, departments, availability and capacity, and the live roster routing reads.

The `Roster` keeps per-agent open-chat counts incrementally (fed with each applied transition
through `observe`), so a routing decision never scans conversations.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.domain.conversation import Conversation
from bot.domain.errors import Refused
from bot.domain.ranking import Ranking, method_key


class Availability(StrEnum):
    AVAILABLE = "available"
    NOT_AVAILABLE = "not-available"


ROUTING_METHODS = ("manual", "auto", "load_balancing", "load_rotation")


@dataclass(frozen=True, slots=True)
class Department:
    """A department as configured (`departments.<name>` in YAML)."""

    name: str
    agents: tuple[str, ...] = ()  # order matters: round robin ties go by this order
    routing: str = "manual"
    max_chats: int = 0  # 0 = no department limit
    closing_tags: tuple[str, ...] = ()
    require_tags: bool = False
    forward_to: tuple[str, ...] = ()  # empty = any department
    fallback: str | None = None
    offer_to_contacts: bool = True
    hide_when_offline: bool = False
    waiting_message: str | None = None

    def __post_init__(self) -> None:
        if self.routing not in ROUTING_METHODS:
            raise ValueError(f"unknown routing method {self.routing!r}")


@dataclass(slots=True)
class Agent:
    """An agent's live state. `max_chats` 0 = use the global limit."""

    username: str
    availability: Availability = Availability.NOT_AVAILABLE
    presence: str = "offline"  # online | away | busy | offline (server presence)
    max_chats: int = 0
    last_assigned_at: datetime | None = None
    is_bot: bool = False

    @property
    def is_available(self) -> bool:
        return self.availability is Availability.AVAILABLE and self.presence != "offline"


def department_from_config(name: str, d: Any) -> Department:
    """`departments.<name>` of the config as a domain `Department`."""
    return Department(
        name=name,
        agents=tuple(d.agents),
        routing=d.routing,
        max_chats=d.max_chats,
        closing_tags=tuple(d.closing_tags),
        require_tags=d.require_tags,
        forward_to=tuple(d.forward_to),
        fallback=d.fallback,
        offer_to_contacts=d.offer_to_contacts,
        hide_when_offline=d.hide_when_offline,
        waiting_message=d.waiting_message,
    )


def agent_limit(agent_max: int, global_max: int) -> int:
    """Rocket.Chat's newest precedence: the agent's own limit if > 0, else the global one."""
    return agent_max if agent_max > 0 else max(global_max, 0)


def within_limits(
    *,
    open_total: int,
    open_in_department: int,
    agent_max: int,
    global_max: int,
    department_max: int = 0,
) -> bool:
    """True when one more chat fits (rules §1.5). 0 everywhere = unlimited.

    The department limit applies on top of the agent/global one, never instead of it.
    """
    limit = agent_limit(agent_max, global_max)
    if limit and open_total >= limit:
        return False
    return not (department_max > 0 and open_in_department >= department_max)


@dataclass(slots=True)
class Roster:
    """Agents, departments, and the counters routing needs, kept up to date incrementally.

    Thread-safety: hold `lock` around "decide (capacity / routing) → store.apply → observe", so
    two rooms routed at once cannot both fill an agent's last slot.

    Change agents only through the roster's methods (`set_availability`, `set_presence`,
    `set_max_chats`, `observe`, …): they keep the routing rankings in step.
    """

    departments: dict[str, Department] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    global_max: int = 0
    # open (serving, not held) chats per agent, and per (agent, department)
    open_total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    open_by_department: dict[tuple[str, str | None], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    # round-robin counters per (department, agent); department None = the public queue
    assignments: dict[tuple[str | None, str], int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.RLock = field(default_factory=threading.RLock)
    _members: dict[str, frozenset[str]] = field(default_factory=dict)
    _rankings: dict[tuple[str | None, str], Ranking] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, dept in self.departments.items():
            if name != dept.name:
                raise ValueError(f"department key {name!r} != name {dept.name!r}")
            for username in dept.agents:
                self.agents.setdefault(username, Agent(username))
        self._reindex()

    @classmethod
    def from_config(cls, config: Any) -> Roster:
        """A roster from the YAML config (`departments`, `agents`, `routing`); duck-typed so
        the domain does not depend on the config module."""
        roster = cls(
            departments={
                name: department_from_config(name, d) for name, d in config.departments.items()
            },
            global_max=config.routing.max_chats_per_agent,
        )
        for username, agent in config.agents.items():
            roster.set_max_chats(username, agent.max_chats)
        return roster

    def _reindex(self) -> None:
        self._members = {name: frozenset(d.agents) for name, d in self.departments.items()}
        self._rankings.clear()

    def set_departments(self, departments: Iterable[Department]) -> None:
        """Replace the department configuration (e.g. after a config reload)."""
        with self.lock:
            self.departments = {d.name: d for d in departments}
            for dept in self.departments.values():
                for username in dept.agents:
                    self.agents.setdefault(username, Agent(username))
            self._reindex()

    def set_global_max(self, value: int) -> None:
        with self.lock:
            self.global_max = value
            self._rankings.clear()

    # --- rankings (see ranking.py) ------------------------------------------------------------
    def ranking(self, department: str | None, method: str) -> Ranking:
        """The eligible agents of `department` ordered by `method`; built on first use."""
        key = (department, method)
        found = self._rankings.get(key)
        if found is None:
            found = self._rankings[key] = Ranking(method_key(self, method, department))
            for username in self.members_of(department):
                found.update(username, self._eligible(username, department))
        return found

    def _eligible(self, username: str, department: str | None) -> bool:
        a = self.agents.get(username)
        return a is not None and a.is_available and self.has_capacity(username, department)

    def _touch(self, username: str | None) -> None:
        if not username or not self._rankings:
            return
        with self.lock:
            for (department, _method), ranking in self._rankings.items():
                if department is None or username in self._members.get(department, ()):
                    ranking.update(username, self._eligible(username, department))

    # --- agents -------------------------------------------------------------------------------
    def agent(self, username: str) -> Agent:
        found = self.agents.get(username)
        if found is None:
            found = self.agents[username] = Agent(username)
            self._touch(username)
        return found

    def is_agent(self, username: str) -> bool:
        return username in self.agents

    def set_availability(self, username: str, availability: Availability | str) -> Agent:
        a = self.agent(username)
        a.availability = Availability(availability)
        self._touch(username)
        return a

    def set_presence(self, username: str, presence: str) -> None:
        if username in self.agents:
            self.agents[username].presence = presence
            self._touch(username)

    def set_max_chats(self, username: str, max_chats: int) -> None:
        self.agent(username).max_chats = max_chats
        self._touch(username)

    def departments_of(self, username: str) -> frozenset[str]:
        return frozenset(n for n, members in self._members.items() if username in members)

    def members_of(self, department: str | None) -> Iterable[str]:
        """Department agents in their configured order, or every agent for the public queue."""
        if department is None:
            return self.agents.keys()
        dept = self.departments.get(department)
        return dept.agents if dept else ()

    def is_member(self, username: str, department: str | None) -> bool:
        return department is None or username in self._members.get(department, ())

    # --- capacity -----------------------------------------------------------------------------
    def has_capacity(self, username: str, department: str | None) -> bool:
        a = self.agents.get(username)
        if a is None:
            return False
        if a.is_bot:
            return True  # rules §1.5: bots skip all limits
        dept = self.departments.get(department) if department else None
        return within_limits(
            open_total=self.open_total.get(username, 0),
            open_in_department=self.open_by_department.get((username, department), 0),
            agent_max=a.max_chats,
            global_max=self.global_max,
            department_max=dept.max_chats if dept else 0,
        )

    def limit_of(self, username: str) -> int:
        return agent_limit(self.agent(username).max_chats, self.global_max)

    def ensure_capacity(self, username: str, department: str | None, *, you: bool = True) -> None:
        """Raise the take/resume refusal when one more chat does not fit.

        `you=False` words it about someone else (a forward's target)."""
        if self.has_capacity(username, department):
            return
        limit = self.limit_of(username)
        dept = self.departments.get(department) if department else None
        if limit and self.open_total.get(username, 0) >= limit:
            what = f"the limit of {limit} simultaneous chats"
        else:
            assert dept is not None
            what = f"{dept.name}'s limit of {dept.max_chats} simultaneous chats"
        if you:
            reason = f"You have reached {what}. Close or hold one first."
        else:
            reason = f"@{username} has reached {what}."
        raise Refused(reason, "error-max-number-simultaneous-chats-reached")

    def ensure_available(self, username: str, *, you: bool = False) -> None:
        a = self.agents.get(username)
        if a is None or not a.is_available:
            reason = (
                "You are not available for chats: set /status available first."
                if you
                else f"@{username} is not available right now."
            )
            raise Refused(reason, "error-agent-status-service-offline")

    def ensure_can_take(self, username: str, department: str | None) -> None:
        """The agent-side checks of `/take` and a manual `/resume`: available, then capacity."""
        self.ensure_available(username, you=True)
        self.ensure_capacity(username, department)

    def can_serve(self, username: str, department: str | None) -> bool:
        a = self.agents.get(username)
        return (
            a is not None
            and a.is_available
            and self.is_member(username, department)
            and self.has_capacity(username, department)
        )

    # --- bookkeeping --------------------------------------------------------------------------
    def observe(self, before: Conversation | None, after: Conversation) -> None:
        """Account one applied transition: open counts, and the assignment when a new agent
        starts serving (counter + last assignment time, used by every routing method)."""
        with self.lock:
            if before is not None and before.counts_for_capacity:
                self._count(before.agent, before.department, -1)  # type: ignore[arg-type]
            if after.counts_for_capacity:
                self._count(after.agent, after.department, +1)  # type: ignore[arg-type]
            newly = (
                after.agent
                and after.counts_for_capacity
                and (before is None or before.agent != after.agent)
            )
            if newly:
                self.record_assignment(after.agent, after.department, after.taken_at)  # type: ignore[arg-type]
            if before is not None and before.agent != after.agent:
                self._touch(before.agent)
            self._touch(after.agent)

    def record_assignment(self, username: str, department: str | None, at: datetime | None) -> None:
        with self.lock:
            self.assignments[(department, username)] += 1
            if at is not None:
                self.agent(username).last_assigned_at = at
            self._touch(username)

    def _count(self, username: str, department: str | None, delta: int) -> None:
        self.open_total[username] = max(0, self.open_total.get(username, 0) + delta)
        key = (username, department)
        self.open_by_department[key] = max(0, self.open_by_department.get(key, 0) + delta)

    def load(
        self,
        open_conversations: Iterable[Conversation],
        counters: Mapping[tuple[str | None, str], int] = {},
        last_assigned: Mapping[str, datetime] = {},
    ) -> None:
        """Rebuild counts from the store at startup."""
        with self.lock:
            self.open_total.clear()
            self.open_by_department.clear()
            for conv in open_conversations:
                if conv.counts_for_capacity:
                    self._count(conv.agent, conv.department, +1)  # type: ignore[arg-type]
            self.assignments.clear()
            self.assignments.update(counters)
            for username, at in last_assigned.items():
                self.agent(username).last_assigned_at = at
            self._rankings.clear()
