"""Routing end to end: the four methods, capacity, department isolation and the public queue."""

from __future__ import annotations

from typing import Any

import pytest
from chat import Chat, default_seed, wait_until

CONTACTS = [f"cust{i}" for i in range(1, 8)]


def seed_with_contacts() -> dict[str, Any]:
    seed = default_seed()
    for name in CONTACTS:
        seed["users"].append(
            {"username": name, "password": f"{name}-dev", "name": name.title(), "roles": ["user"]}
        )
    return seed


def make_desk(make_chat: Any, routing: str, **support: Any) -> Chat:
    config = {
        "departments": {
            "support": {"agents": ["alice", "bob", "erin"], "routing": routing, **support}
        },
        "intake": {"dm": {"department": "support"}},
        "commands": {"rate_limit": {"count": 0}},
    }
    return make_chat(config=config, seed=seed_with_contacts())


def ask(desk: Chat, contact: str, text: str = "Please help") -> tuple[int, str]:
    told = desk.user(contact).dm_bot(text)
    assert "Your conversation #" in told, told
    desk.idle()
    conv = desk.bot.services.repo.open_for_contact(contact)
    return conv.number, told


def agent_of(desk: Chat, number: int) -> str | None:
    return desk.bot.services.repo.get(number).agent


def on(desk: Chat, *names: str) -> None:
    for name in names:
        assert desk.user(name).dm_bot("/status on").startswith("You are now available")
    desk.idle()


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        # round robin: fewest assignments, then the configured order
        ("auto", ["alice", "bob", "alice", "bob", "erin", "erin", "alice"]),
        # fewest open chats, ties to the longest since the last assignment
        ("load_balancing", ["alice", "bob", "alice", "bob", "erin", "bob", "erin"]),
        # the longest since the last assignment, whatever the load
        ("load_rotation", ["alice", "bob", "alice", "bob", "erin", "alice", "bob"]),
    ],
)
def test_auto_routings_follow_their_rule(make_chat: Any, routing: str, expected: list) -> None:
    desk = make_desk(make_chat, routing)
    on(desk, "alice", "bob")
    got, numbers = [], []
    for contact in CONTACTS[:4]:
        n, told = ask(desk, contact)
        numbers.append(n)
        got.append(agent_of(desk, n))
        assert f"@{got[-1]} is there to help you." in told
    # bob finishes one chat, erin comes online: the three methods now disagree
    assert desk.user("bob").dm_bot(f"/close #{numbers[1]} done") == f"#{numbers[1]} is closed."
    on(desk, "erin")
    for contact in CONTACTS[4:7]:
        n, _ = ask(desk, contact)
        got.append(agent_of(desk, n))
    assert got == expected
    # the assigned agent was told in their console thread for it
    told = desk.console("alice", numbers[0])
    assert told and told[0] == "@alice joined. You have been assigned."


def test_manual_routing_notifies_and_assigns_nobody(make_chat: Any) -> None:
    desk = make_desk(make_chat, "manual")
    on(desk, "alice", "bob")
    n, told = ask(desk, "cust1", "Where is my order?")
    assert "You are number 1 in the queue; an agent will join you soon." in told
    assert agent_of(desk, n) is None
    for name in ("alice", "bob"):
        user = desk.user(name)
        wait_until(
            lambda user=user: (
                f"New chat #{n} from @cust1 (Cust1) in support: Where is my order?"
                in user.replies(user.bot_dm)
            ),
            what=f"{name} notified",
        )
    erin = desk.user("erin")
    assert not [t for t in erin.replies(erin.bot_dm) if t.startswith("New chat")]
    # erin comes online later: she hears about what is waiting
    on(desk, "erin")
    wait_until(
        lambda: any(t.startswith(f"New chat #{n}") for t in erin.replies(erin.bot_dm)),
        what="erin told about the waiting chat",
    )


def test_capacity_blocks_routing_and_a_freed_slot_routes_the_queue(make_chat: Any) -> None:
    desk = make_desk(make_chat, "auto")
    desk.stop_bot()
    desk.start_bot(routing={"max_chats_per_agent": 1})
    on(desk, "alice")
    first, _ = ask(desk, "cust1")
    assert agent_of(desk, first) == "alice"
    second, told = ask(desk, "cust2")
    assert agent_of(desk, second) is None
    assert "All our agents are busy right now. You are number 1 in the queue." in told
    third, told = ask(desk, "cust3")
    assert "You are number 2 in the queue." in told
    alice = desk.user("alice")
    assert alice.dm_bot(f"/take {second}") == (
        "You have reached the limit of 1 simultaneous chats. Close or hold one first."
    )
    # a hold frees the slot: the oldest waiting chat comes to alice
    room = alice.in_room(desk.bot.services.repo.get(first).rid)
    room.say("Back in a moment")
    room.say("/hold")
    wait_until(lambda: agent_of(desk, second) == "alice", what="the queue to move")
    assert agent_of(desk, third) is None
    assert desk.user("alice").dm_bot(f"/resume #{first}") == (
        "You have reached the limit of 1 simultaneous chats. Close or hold one first."
    )
    assert alice.dm_bot(f"/close #{second} done") == f"#{second} is closed."
    wait_until(lambda: agent_of(desk, third) == "alice", what="the next chat")


def test_department_limit_applies_on_top(make_chat: Any) -> None:
    desk = make_desk(make_chat, "auto", max_chats=1)
    on(desk, "alice")
    first, _ = ask(desk, "cust1")
    second, _ = ask(desk, "cust2")
    assert (agent_of(desk, first), agent_of(desk, second)) == ("alice", None)
    assert desk.user("alice").dm_bot(f"/take {second}") == (
        "You have reached support's limit of 1 simultaneous chats. Close or hold one first."
    )


def test_department_isolation_and_the_public_queue(make_chat: Any) -> None:
    config = {
        "departments": {"sales": {"agents": ["alice"]}, "support": {"agents": ["bob"]}},
        "commands": {"rate_limit": {"count": 0}},
    }
    desk = make_chat(config=config, seed=seed_with_contacts())
    on(desk, "alice", "bob")
    carol = desk.user("carol")
    carol.dm_bot("I want to buy")
    assert "Your conversation #" in carol.dm_bot("sales")
    desk.idle()
    n = desk.bot.services.repo.open_for_contact("carol").number
    alice, bob = desk.user("alice"), desk.user("bob")
    wait_until(
        lambda: any(t.startswith(f"New chat #{n}") for t in alice.replies(alice.bot_dm)),
        what="alice notified",
    )
    assert not any(t.startswith("New chat") for t in bob.replies(bob.bot_dm))
    assert bob.dm_bot("/queue") == "No chats are waiting."
    assert bob.dm_bot(f"/preview {n}") == f"There is no conversation #{n} in your queue."
    assert bob.dm_bot(f"/take {n}") == f"There is no conversation #{n} in your queue."
    # the chat does not exist for bob: every command answers as for an unknown number
    unknown = n + 100
    for text in ("/hold #{}", "/close #{} bye", "/resume #{}", "/invite #{} @bob", "/timers #{}"):
        assert bob.dm_bot(text.format(n)) == f"There is no conversation #{n}.", text
        assert bob.dm_bot(text.format(unknown)) == f"There is no conversation #{unknown}.", text
    assert f"#{n} @carol" in alice.dm_bot("/queue")

    # no department offered: the public queue, seen and taken by everyone
    desk.stop_bot()
    desk.start_bot(
        departments={
            "sales": {"agents": ["alice"], "offer_to_contacts": False},
            "support": {"agents": ["bob"], "offer_to_contacts": False},
        }
    )
    on(desk, "alice", "bob")
    told = desk.user("dave").dm_bot("Anyone there?")
    assert "Your conversation #" in told
    desk.idle()
    m = desk.bot.services.repo.open_for_contact("dave").number
    assert desk.bot.services.repo.get(m).department is None
    for user in (alice, bob):
        assert f"#{m} @dave (Dave Contact) · the public queue" in user.dm_bot("/queue")
    assert bob.dm_bot(f"/take {m}").startswith(f"You took #{m} from @dave")
