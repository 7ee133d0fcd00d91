"""An SLA follows its chat through a forward (issue 19): the warning reaches the agent who has
the chat when it rings, in their console thread for it (a new agent is warned too, at once if
the warning time has passed), and a forward to a department with another default policy puts
the chat on that policy, unless an agent set its SLA by hand.

The dev server and the real bot over real sockets, on one clock the test moves (as in
`test_e2e_sla_csat.py`); the timer service's due jobs are fired on it. support (manual: bob,
erin) promises a first response within 10 minutes, billing (auto: alice) within 3.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from chat import wait_until
from scripted_day import opens, scripted_desk
from test_e2e_sla_csat import SEED_ROOMS, SEED_USERS, room_texts

CONFIG = {
    "departments": {
        "support": {
            "agents": ["bob", "erin"],
            "supervisor_room": "support-leads",
            "sla": "standard",
        },
        "billing": {"agents": ["alice"], "routing": "auto", "sla": "vip"},
    },
    "sla": {
        "warn_before": "2m",
        "policies": {
            "standard": {"due_minutes": 10},
            "vip": {"due_minutes": 3},
            "relaxed": {"due_minutes": 60},
        },
    },
    "timers": {"supervisor_room": "desk-leads"},
    "commands": {"rate_limit": {"count": 0}},
    # agents forward among themselves, as many teams configure it
    "permissions": {
        "overrides": {
            "transfer-livechat-guest": ["admin", "livechat-manager", "livechat-agent"],
        }
    },
}


@pytest.fixture
def desk(make_chat: Any, monkeypatch: Any) -> Any:
    return scripted_desk(
        make_chat,
        monkeypatch,
        config=CONFIG,
        seed_users=SEED_USERS,
        seed_rooms=SEED_ROOMS,
        fire_timers=True,
    )


def console(desk: Any, user: str, number: int) -> list[str]:
    """What the bot said in `user`'s console thread for #number (issue 16)."""
    import sqlalchemy as sa

    from bot.store.schema_console import console_threads

    with desk.store.engine.connect() as conn:
        root = conn.execute(
            sa.select(console_threads.c.root_id).where(
                console_threads.c.conversation_id == number, console_threads.c.agent == user
            )
        ).scalar()
    if root is None:
        return []
    return [
        str(m.get("msg", ""))
        for m in desk.messages(desk.user(user).bot_dm)
        if m.get("tmid") == root and (m.get("u") or {}).get("username") == desk.bot_username
    ]


def warnings(desk: Any, user: str, number: int) -> list[str]:
    return [t for t in console(desk, user, number) if t.startswith(("SLA warning", "SLA breach"))]


def test_the_warning_and_the_breach_follow_a_forward_to_another_agent(desk: Any) -> None:
    at = desk.at
    bob, erin = desk.user("bob"), desk.user("erin")
    for agent in (bob, erin):
        assert agent.dm_bot("/status available").startswith("You are now available for chats.")
    at(0)
    assert opens(desk, "carol", "support", "My router blinks red") == 1
    assert opens(desk, "dave", "support", "Invoice question") == 2
    at(60)
    assert bob.dm_bot("/take 1").startswith("You took #1")
    assert bob.dm_bot("/take 2").startswith("You took #2")

    # #2 moves to erin before its warning time: erin is warned at 08:00, bob never
    at(120)
    assert bob.dm_bot("/forward #2 @erin").startswith("Forwarded #2 to @erin")
    # #1: bob is warned at 08:00, then hands it to erin, who is warned at once
    fired = at(480)
    assert ("sla_warning", "1", "warned") in fired and ("sla_warning", "2", "warned") in fired
    link = desk.bot.services.effects.room_link
    repo = desk.bot.services.repo
    assert warnings(desk, "bob", 1) == [
        "SLA warning: #1 from @carol (Carol Contact) needs a first response within 2m"
        f" (SLA standard). Room: {link(repo.get(1))}"
    ]
    assert warnings(desk, "erin", 2) == [
        "SLA warning: #2 from @dave (Dave Contact) needs a first response within 2m"
        f" (SLA standard). Room: {link(repo.get(2))}"
    ]
    assert warnings(desk, "bob", 2) == []
    at(540)
    assert bob.dm_bot("/forward #1 @erin").startswith("Forwarded #1 to @erin")
    assert ("sla_warning", "1", "warned") in at(545)
    assert warnings(desk, "erin", 1) == [
        "SLA warning: #1 from @carol (Carol Contact) needs a first response within 55s"
        f" (SLA standard). Room: {link(repo.get(1))}"
    ]
    assert [f for f in at(550) if f[0] == "sla_warning"] == []  # once per agent
    # the breach at 10:00: the agent who has it hears it, in that chat's console thread
    fired = at(600)
    assert ("sla_breach", "1", "breached") in fired and ("sla_breach", "2", "breached") in fired
    assert warnings(desk, "erin", 1)[-1] == "SLA breached: #1 still has no first response."
    assert warnings(desk, "erin", 2)[-1] == "SLA breached: #2 still has no first response."
    assert len(warnings(desk, "bob", 1)) == 1 and warnings(desk, "bob", 2) == []
    # both breaches ring at the same instant: their alerts may come in either order
    alerts = sorted(room_texts(desk, "support-leads")[-2:])
    assert alerts[0].startswith(
        "SLA breach: #1 from @carol (Carol Contact) in support has had no first response"
        " within its SLA standard (due 09:10 UTC; served by @erin)."
    )
    assert alerts[1].startswith(
        "SLA breach: #2 from @dave (Dave Contact) in support has had no first response"
        " within its SLA standard (due 09:10 UTC; served by @erin)."
    )


def test_a_department_forward_takes_the_new_departments_policy(desk: Any) -> None:
    at = desk.at
    bob, alice, maria = desk.user("bob"), desk.user("alice"), desk.user("maria")
    for agent in (bob, alice):
        assert agent.dm_bot("/status available").startswith("You are now available for chats.")
    repo = desk.bot.services.repo
    at(0)
    assert opens(desk, "frank", "support", "Refund please") == 1
    assert opens(desk, "gina", "support", "Refund too") == 2
    assert [repo.get(n).sla for n in (1, 2)] == ["standard", "standard"]
    # an SLA set by hand stays through the forward
    assert maria.dm_bot("/info set #2 sla=relaxed") == "#2: set the SLA to relaxed."
    at(30)
    assert bob.dm_bot("/take 1").startswith("You took #1")
    assert bob.dm_bot("/take 2").startswith("You took #2")
    # billing promises 3 minutes from the arrival (09:00): #1 is due 09:03, warned at 09:01
    at(70)
    for n in (1, 2):
        answer = bob.dm_bot(f"/forward #{n} billing")
        assert answer == f"Forwarded #{n} to billing: @alice has it now.", answer
    one, two = repo.get(1), repo.get(2)
    assert (one.department, one.sla, one.sla_due_at) == (
        "billing",
        "vip",
        desk.t0 + timedelta(minutes=3),
    )
    assert (two.sla, two.sla_due_at) == ("relaxed", desk.t0 + timedelta(minutes=60))
    forwarded = [e for e in desk.store.events(1) if e.kind == "forwarded"][-1]
    assert forwarded.data["sla"] == "vip"
    assert ("sla_warning", "1", "warned") in at(75)
    warned = warnings(desk, "alice", 1)
    assert warned == [
        "SLA warning: #1 from @frank (Frank Contact) needs a first response within 1m"
        f" (SLA vip). Room: {desk.bot.services.effects.room_link(one)}"
    ], warned
    assert warnings(desk, "bob", 1) == []
    assert ("sla_breach", "1", "breached") in at(180)
    assert repo.get(1).sla_breached_at == desk.t0 + timedelta(minutes=3)
    assert warnings(desk, "alice", 1)[-1] == "SLA breached: #1 still has no first response."
    # billing has no room of its own: the breach goes to timers.supervisor_room
    wait_until(lambda: room_texts(desk, "desk-leads"), 10, "the breach alert")
    assert room_texts(desk, "desk-leads")[-1].startswith(
        "SLA breach: #1 from @frank (Frank Contact) in billing has had no first response"
        " within its SLA vip (due 09:03 UTC; served by @alice)."
    )
    assert repo.get(2).sla_breached_at is None
