"""Capacity precedence, the roster's counts, and the four routing methods."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import (
    AGENT,
    CONTACT,
    Availability,
    Conversation,
    Department,
    Refused,
    Roster,
    Router,
    new_conversation,
    within_limits,
)

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


# --- capacity ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("agent_max", "global_max", "dept_max", "open_total", "open_dept", "fits"),
    [
        (0, 0, 0, 100, 100, True),  # nothing set: unlimited
        (0, 2, 0, 1, 1, True),  # global limit
        (0, 2, 0, 2, 0, False),
        (3, 2, 0, 2, 2, True),  # the agent's own limit beats the global one
        (3, 2, 0, 3, 0, False),
        (1, 5, 0, 1, 0, False),  # ... also when it is lower
        (0, 0, 1, 5, 0, True),  # a department limit counts the department's chats only
        (0, 0, 1, 5, 1, False),
        (5, 0, 2, 4, 1, True),
        (5, 0, 2, 4, 2, False),  # the department limit applies on top ...
        (5, 0, 2, 5, 0, False),  # ... never instead of the agent's
        (0, 3, 9, 3, 0, False),
    ],
)
def test_capacity_precedence(agent_max, global_max, dept_max, open_total, open_dept, fits):
    assert (
        within_limits(
            open_total=open_total,
            open_in_department=open_dept,
            agent_max=agent_max,
            global_max=global_max,
            department_max=dept_max,
        )
        is fits
    )


class Desk:
    """A roster + router and a stream of chats, applying transitions the way handlers do."""

    def __init__(self, *departments: Department, global_max: int = 0, online=None) -> None:
        self.roster = Roster(departments={d.name: d for d in departments}, global_max=global_max)
        self.router = Router(self.roster)
        for username in online if online is not None else list(self.roster.agents):
            self.online(username)
        self.clock = T0
        self.number = 0
        self.chats: dict[int, Conversation] = {}

    def online(self, username: str) -> None:
        self.roster.set_availability(username, Availability.AVAILABLE)
        self.roster.set_presence(username, "online")

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def apply(self, before: Conversation | None, transition) -> Conversation:
        self.roster.observe(before, transition.conversation)
        self.chats[transition.conversation.number] = transition.conversation
        return transition.conversation

    def incoming(self, department: str | None = "Sales", **route_kw) -> str | None:
        self.number += 1
        t = new_conversation(
            self.number, f"c{self.number}", self.tick(), by="c", department=department
        )
        conv = self.apply(None, t)
        decision = self.router.route(department, **route_kw)
        if decision.agent is None:
            return None
        self.apply(
            conv,
            conv.assign(decision.agent, self.tick(), by="omnicat", department=decision.department),
        )
        return decision.agent

    def stream(self, n: int, department: str | None = "Sales") -> list[str | None]:
        return [self.incoming(department) for _ in range(n)]

    def close_one_of(self, agent: str) -> None:
        conv = next(c for c in self.chats.values() if c.agent == agent and c.is_open)
        self.apply(conv, conv.close(agent, self.tick(), "done"))

    def hold_one_of(self, agent: str) -> Conversation:
        conv = next(c for c in self.chats.values() if c.agent == agent and c.counts_for_capacity)
        conv = conv.note_message(CONTACT, self.tick()).note_message(AGENT, self.tick())
        return self.apply(conv, conv.hold(agent, self.tick()))


def sales(routing: str, agents=("alice", "bob", "carl"), **kw) -> Department:
    return Department("Sales", agents=agents, routing=routing, **kw)


# --- roster counts ------------------------------------------------------------------------------
def test_held_chats_free_capacity_and_resume_takes_it_back():
    desk = Desk(sales("auto", agents=("alice",)), global_max=2)
    assert desk.stream(3) == ["alice", "alice", None]
    r = desk.roster
    assert r.open_total["alice"] == 2 and not r.has_capacity("alice", "Sales")
    with pytest.raises(Refused) as info:
        r.ensure_capacity("alice", "Sales")
    assert info.value.reason == (
        "You have reached the limit of 2 simultaneous chats. Close or hold one first."
    )
    held = desk.hold_one_of("alice")
    assert r.open_total["alice"] == 1 and r.has_capacity("alice", "Sales")
    desk.apply(held, held.resume("alice", desk.tick()))
    assert r.open_total["alice"] == 2
    desk.close_one_of("alice")
    assert r.open_total["alice"] == 1


def test_department_limit_message_and_agent_override():
    desk = Desk(sales("auto", agents=("alice",), max_chats=1), global_max=5)
    desk.stream(1)
    with pytest.raises(Refused) as info:
        desk.roster.ensure_capacity("alice", "Sales", you=False)
    assert info.value.reason == "@alice has reached Sales's limit of 1 simultaneous chats."
    assert desk.roster.has_capacity("alice", None)  # other queues are not limited by Sales
    desk.roster.set_max_chats("alice", 1)
    assert not desk.roster.has_capacity("alice", None)


def test_availability_needs_status_and_presence():
    desk = Desk(sales("auto"), online=[])
    a = desk.roster.agent("alice")
    assert not a.is_available
    desk.roster.set_availability("alice", "available")
    assert not a.is_available  # still offline on the server
    desk.roster.set_presence("alice", "away")
    assert a.is_available
    with pytest.raises(Refused):
        desk.roster.ensure_available("bob")


# --- the four methods -----------------------------------------------------------------------------
def test_manual_routing_assigns_nobody_and_notifies_eligible():
    desk = Desk(sales("manual"), global_max=1, online=["alice", "bob"])
    decision = desk.router.route("Sales")
    assert decision.agent is None and decision.method == "manual"
    assert decision.notify == ("alice", "bob")
    # a full agent is not notified
    conv = desk.apply(None, new_conversation(99, "x", T0, by="x", department="Sales"))
    desk.apply(conv, conv.take("alice", T0))
    assert desk.router.route("Sales").notify == ("bob",)


def test_auto_is_round_robin_by_count_then_order():
    desk = Desk(sales("auto", agents=("carl", "alice", "bob")))
    assert desk.stream(6) == ["carl", "alice", "bob", "carl", "alice", "bob"]
    # closing chats does not change the turn: round robin counts assignments, not load
    desk.close_one_of("carl")
    desk.close_one_of("carl")
    assert desk.stream(2) == ["carl", "alice"]


def test_auto_latecomer_catches_up_on_count():
    desk = Desk(sales("auto"), online=["alice", "bob"])
    assert desk.stream(4) == ["alice", "bob", "alice", "bob"]
    desk.online("carl")
    assert desk.stream(4) == ["carl", "carl", "alice", "bob"]


def test_load_balancing_fewest_open_then_longest_idle():
    desk = Desk(sales("load_balancing"))
    assert desk.stream(3) == ["alice", "bob", "carl"]
    desk.close_one_of("bob")
    assert desk.stream(1) == ["bob"]  # fewest open
    # all at 1 open: longest since last assignment is alice (t1), then carl, then bob
    assert desk.stream(3) == ["alice", "carl", "bob"]
    held = desk.hold_one_of("carl")  # held chats do not count as load
    assert held.state.value == "on_hold"
    assert desk.stream(1) == ["carl"]


def test_load_rotation_ignores_load():
    desk = Desk(sales("load_rotation"))
    assert desk.stream(3) == ["alice", "bob", "carl"]
    desk.close_one_of("carl")
    desk.close_one_of("bob")
    assert desk.stream(4) == ["alice", "bob", "carl", "alice"]


@pytest.mark.parametrize("method", ["auto", "load_balancing", "load_rotation"])
def test_full_or_unavailable_agents_are_skipped(method):
    desk = Desk(sales(method), global_max=1, online=["alice", "bob"])
    assert desk.stream(3) == ["alice", "bob", None]
    desk.roster.set_availability("alice", "not-available")
    desk.close_one_of("alice")
    assert desk.stream(1) == [None]


def test_exclusion_list_and_preferred_agent():
    desk = Desk(sales("auto"))
    assert desk.router.choose("Sales", exclude={"alice"}) == "bob"
    assert desk.router.choose("Sales", preferred="carl") == "carl"
    # preferred but unavailable → the method decides
    desk.roster.set_presence("carl", "offline")
    assert desk.router.choose("Sales", preferred="carl") == "alice"
    # preferred applies under manual routing too (a returning contact, a resumed hold)
    manual = Desk(sales("manual"))
    assert manual.router.route("Sales", preferred="bob").agent == "bob"
    # ... but never outside the department
    assert manual.router.route("Sales", preferred="zoe").agent is None


def test_department_isolation_and_public_queue():
    desk = Desk(
        sales("auto", agents=("alice",)),
        Department("Support", agents=("sam",), routing="auto"),
    )
    assert desk.stream(3, "Sales") == ["alice"] * 3
    assert desk.router.eligible("Support") == ["sam"]
    assert "sam" not in desk.router.eligible("Sales")
    # the public queue is served by every agent
    assert sorted(desk.router.eligible(None)) == ["alice", "sam"]
    assert desk.roster.departments_of("sam") == {"Support"}


def test_fallback_department_when_nobody_is_online():
    desk = Desk(
        sales("auto", fallback="Support"),
        Department("Support", agents=("sam",), routing="auto", fallback="Sales"),
        online=["sam"],
    )
    decision = desk.router.route("Sales")
    assert (decision.agent, decision.department, decision.fallback_path) == (
        "sam",
        "Support",
        ("Support",),
    )
    assert decision.moved
    # online but full is not "nobody online": the chat waits in its own department
    desk2 = Desk(
        sales("auto", agents=("alice",), fallback="Support"),
        Department("Support", agents=("sam",), routing="auto"),
        global_max=1,
    )
    assert desk2.stream(2) == ["alice", None]
    assert desk2.router.route("Sales").department == "Sales"


def test_fallback_chain_is_bounded_and_cycle_safe():
    depts = [
        Department(f"D{i}", agents=(f"a{i}",), routing="auto", fallback=f"D{i + 1}")
        for i in range(6)
    ]
    desk = Desk(*depts, online=["a4", "a3"])
    # D0 → D1 → D2 → D3 (3 hops max): a3 is online there
    assert desk.router.route("D0").department == "D3"
    desk.roster.set_presence("a3", "offline")
    # D4 is beyond the bound: nobody reachable online → waits in D0
    d = desk.router.route("D0")
    assert (d.agent, d.department, d.fallback_path) == (None, "D0", ())
    loop = Desk(
        Department("A", agents=("x",), routing="auto", fallback="B"),
        Department("B", agents=("y",), routing="auto", fallback="A"),
        online=[],
    )
    assert loop.router.route("A").department == "A"


def test_observe_records_assignment_for_take_and_forward():
    desk = Desk(sales("auto"))
    conv = desk.apply(None, new_conversation(1, "c", T0, by="c", department="Sales"))
    conv = desk.apply(conv, conv.take("bob", T0 + timedelta(seconds=5)))
    assert desk.roster.assignments[("Sales", "bob")] == 1
    assert desk.roster.agent("bob").last_assigned_at == T0 + timedelta(seconds=5)
    conv = desk.apply(conv, conv.forward_to_agent("carl", "bob", T0 + timedelta(seconds=9)))
    assert desk.roster.open_total["bob"] == 0 and desk.roster.open_total["carl"] == 1
    assert desk.roster.assignments[("Sales", "carl")] == 1


def test_roster_load_rebuilds_counts():
    desk = Desk(sales("auto"))
    desk.stream(3)
    fresh = Roster(departments=desk.roster.departments)
    fresh.load(desk.chats.values(), dict(desk.roster.assignments), {"alice": T0})
    assert fresh.open_total == desk.roster.open_total
    assert fresh.assignments[("Sales", "alice")] == 1
    assert fresh.agent("alice").last_assigned_at == T0


@pytest.mark.parametrize("method", ["auto", "load_balancing", "load_rotation"])
@pytest.mark.parametrize("department", ["Sales", None])
def test_rankings_agree_with_a_full_scan(method, department):
    """The incremental rankings pick exactly what a scan over every agent would."""
    rng = random.Random(f"{method}-{department}")
    names = [f"ag{i}" for i in range(12)]
    desk = Desk(
        Department("Sales", agents=tuple(names[:8]), routing=method, max_chats=3),
        Department("Support", agents=tuple(names[5:]), routing=method),
        global_max=4,
        online=names[::2],
    )
    desk.router.public_routing = method
    for step in range(600):
        op = rng.random()
        who = rng.choice(names)
        if op < 0.1:
            desk.roster.set_availability(who, rng.choice(["available", "not-available"]))
        elif op < 0.2:
            desk.roster.set_presence(who, rng.choice(["online", "away", "offline"]))
        elif op < 0.25:
            desk.roster.set_max_chats(who, rng.choice([0, 1, 2, 6]))
        elif op < 0.45:
            mine = [c for c in desk.chats.values() if c.agent == who and c.is_open]
            if mine:
                conv = rng.choice(mine)
                if conv.state.value == "on_hold" or rng.random() < 0.6:
                    desk.apply(conv, conv.close(who, desk.tick(), "x"))
                else:
                    conv = conv.note_message(AGENT, desk.tick())
                    desk.apply(conv, conv.hold(who, desk.tick()))
        exclude = set(rng.sample(names, rng.choice([0, 0, 1, 3])))
        target = department if rng.random() < 0.7 else "Support"
        expected = desk.router.scan(target, exclude=exclude, method=method)
        got = desk.router.choose(target, exclude=exclude, method=method)
        assert got == expected, (step, target, exclude)
        if got and rng.random() < 0.7:
            desk.incoming(target)


def test_ensure_can_take_checks_availability_then_capacity():
    desk = Desk(sales("auto", agents=("alice",)), global_max=1, online=[])
    with pytest.raises(Refused) as info:
        desk.roster.ensure_can_take("alice", "Sales")
    assert info.value.reason == "You are not available for chats: set /status available first."
    desk.online("alice")
    desk.roster.ensure_can_take("alice", "Sales")
    desk.stream(1)
    with pytest.raises(Refused) as info:
        desk.roster.ensure_can_take("alice", "Sales")
    assert info.value.key == "error-max-number-simultaneous-chats-reached"


def test_roster_from_config():
    from bot.config.load import parse_config

    cfg = parse_config(
        """
server: {url: "http://127.0.0.1:3000", username: bot, password: x}
routing: {max_chats_per_agent: 3}
agents: {alice: {max_chats: 5}}
departments:
  Sales: {agents: [alice, bob], routing: load_rotation, max_chats: 2, fallback: Support}
  Support: {agents: [sam]}
"""
    )
    roster = Roster.from_config(cfg)
    assert roster.global_max == 3 and roster.limit_of("alice") == 5 and roster.limit_of("bob") == 3
    sales_dept = roster.departments["Sales"]
    assert (sales_dept.routing, sales_dept.max_chats, sales_dept.fallback) == (
        "load_rotation",
        2,
        "Support",
    )
    assert roster.departments_of("sam") == {"Support"}


def test_queued_chat_moves_to_fallback_department():
    conv, _ = new_conversation(3, "c", T0, by="c", department="Sales")
    moved, event = conv.move_to("Support", "omnicat", T0)
    assert moved.department == "Support" and moved.state.value == "queued"
    assert event.data == {
        "scope": "fallback",
        "from_department": "Sales",
        "to_department": "Support",
    }
