"""Priorities, SLA policies and satisfaction end to end (issue 19): the dev server and the real
bot over real sockets, on one clock the test moves (as in `test_e2e_reports.py`); the timer
service's due jobs are fired on that clock.

support (manual routing, bob and erin) has the `standard` SLA (10 minutes), its own supervisor
room and CSAT on; sales (auto routing, alice) has no room of its own (alerts go to
`timers.supervisor_room`, desk-leads) and no CSAT. Chats wait 5 minutes before a queue alert.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from chat import Chat, wait_until
from scripted_day import closes, opens, room_of, scripted_desk

SEED_ROOMS = [
    {"name": "support-leads", "members": ["omnicat", "maria"]},
    {"name": "desk-leads", "members": ["omnicat", "maria"]},
]
SEED_USERS = [
    {
        "username": name,
        "name": f"{name.title()} Contact",
        "roles": ["user"],
        "password": f"{name}-dev",
        "email": f"{name}@example.test",
    }
    for name in ("frank", "gina")
]
CONFIG = {
    "departments": {
        "support": {
            "agents": ["bob", "erin"],
            "supervisor_room": "support-leads",
            "sla": "standard",
            "csat": True,
        },
        "sales": {"agents": ["alice"], "routing": "auto"},
    },
    "sla": {
        "warn_before": "2m",
        "policies": {"standard": {"due_minutes": 10}, "vip": {"due_minutes": 3}},
    },
    "routing": {"max_chats_per_agent": 1, "sorting": "priority"},
    "timers": {
        "supervisor_room": "desk-leads",
        "queue_max_wait": {"after": "5m", "action": "alert"},
    },
    "commands": {"rate_limit": {"count": 0}},
}


@pytest.fixture
def desk(make_chat: Any, monkeypatch: Any) -> Any:
    """The chat, and `at(seconds)`: the shared clock to t0 + seconds, the timers due by then
    run (what fired)."""
    return scripted_desk(
        make_chat,
        monkeypatch,
        config=CONFIG,
        seed_users=SEED_USERS,
        seed_rooms=SEED_ROOMS,
        fire_timers=True,
    )


def room_texts(chat: Chat, name: str) -> list[str]:
    return chat.bot_messages(chat.server.room_by_name(name)["_id"])


def dm_texts(chat: Chat, user: str) -> list[str]:
    return chat.bot_messages(chat.user(user).bot_dm)


def test_priority_order_sla_warning_breach_and_queue_alert(desk: Any) -> None:
    at = desk.at
    bob, maria = desk.user("bob"), desk.user("maria")
    at(0)
    assert opens(desk, "carol", "support", "My router blinks red") == 1
    at(60)
    assert opens(desk, "dave", "support", "Invoice question") == 2
    at(120)
    assert opens(desk, "frank", "support", "Cannot log in") == 3
    repo = desk.bot.services.repo
    assert [repo.get(n).sla for n in (1, 2, 3)] == ["standard"] * 3
    assert repo.get(1).sla_due_at == desk.t0 + timedelta(minutes=10)

    # priorities and a tighter SLA reorder the queue: #3 high first, then #2 (due 04:00), #1
    # (a manager: the agents may change only the chats they serve)
    assert maria.dm_bot("/info set #3 priority=high") == "#3: set the priority to high."
    assert maria.dm_bot("/info set #2 sla=vip") == "#2: set the SLA to vip."
    assert repo.get(2).sla_due_at == desk.t0 + timedelta(minutes=4)  # 3 min from its arrival
    refused = maria.dm_bot("/info set #2 sla=platinum")
    assert refused.startswith("Unknown SLA policy 'platinum'"), refused
    at(150)
    assert bob.dm_bot("/queue").splitlines() == [
        "3 chat(s) waiting:",
        '#3 @frank (Frank Contact) · support · waiting 30s "Cannot log in"'
        " · priority high · SLA standard due in 9m",
        '#2 @dave (Dave Contact) · support · waiting 1m "Invoice question" · SLA vip due in 1m',
        '#1 @carol (Carol Contact) · support · waiting 2m "My router blinks red"'
        " · SLA standard due in 7m",
        "Type /take N to take one, /preview N to peek.",
    ]

    # 04:00: #2 breached its SLA unanswered; 05:00: #1 waited 5 minutes (queue alert). Both go
    # to support's own supervisor room, none to the global one.
    assert ("sla_breach", "2", "breached") in at(240)
    assert repo.get(2).sla_breached_at == desk.t0 + timedelta(minutes=4)
    assert [e.kind for e in desk.store.events(2)].count("sla-breached") == 1
    assert ("queue_max_wait", "1", "alerted") in at(300)
    leads = room_texts(desk, "support-leads")
    assert len(leads) == 2, leads
    assert leads[0].startswith(
        "SLA breach: #2 from @dave (Dave Contact) in support has had no first response within"
        " its SLA vip (due 09:04 UTC; still in the queue)."
    ), leads[0]
    assert leads[1].startswith(
        "Conversation #1 from @carol (Carol Contact) in support has waited 5m in the queue."
    ), leads[1]
    assert room_texts(desk, "desk-leads") == []

    # bob takes #1 at 06:00 and does not answer: warned 2 minutes before 10:00, breach at 10:00
    assert bob.dm_bot("/status available").startswith("You are now available for chats.")
    assert bob.dm_bot("/take 1").startswith("You took #1")
    at(360)
    before = len(dm_texts(desk, "bob"))
    assert ("sla_warning", "1", "warned") in at(480)
    warning = dm_texts(desk, "bob")[before:]
    assert warning == [
        "SLA warning: #1 from @carol (Carol Contact) needs a first response within 2m"
        f" (SLA standard). Room: {desk.bot.services.effects.room_link(repo.get(1))}"
    ], warning
    assert ("sla_warning", "1", "moot") not in at(500)  # warned once only
    assert ("sla_breach", "1", "breached") in at(600)
    assert dm_texts(desk, "bob")[-1] == "SLA breached: #1 still has no first response."
    assert room_texts(desk, "support-leads")[-1].startswith(
        "SLA breach: #1 from @carol (Carol Contact) in support has had no first response"
        " within its SLA standard (due 09:10 UTC; served by @bob)."
    )
    # #3 is answered in time: bob takes it after closing nothing (limit 1: he frees #1 first)
    closes(desk, "bob", 1, "/close no answer needed")
    assert bob.dm_bot("/take 3").startswith("You took #3")
    room_of(desk, "bob", 3).say("Hi Frank, checking your login")
    wait_until(lambda: repo.get(3).metrics.first_response_at, what="bob's first response noted")
    fired = at(1000)  # #3 was due at 12:00
    # (an alarm armed before the reply may still ring: it finds the reason gone)
    assert {outcome for _kind, number, outcome in fired if number == "3"} <= {"moot"}, fired
    assert repo.get(3).sla_breached_at is None

    info = bob.dm_bot("/info #3")
    assert "Priority: high" in info
    # in bob's zone (utcOffset -5)
    sla_line = f"SLA: standard, first response due {desk.t0:%Y-%m-%d} 04:12 UTC-05:00 (met)"
    assert sla_line in info.splitlines(), info

    # the desk: #2 is still queued past its due time (the breach in progress); #1 is closed
    monitor = maria.dm_bot("/monitor")
    assert "  SLA breaches in progress: 1" in monitor.splitlines(), monitor
    report = maria.dm_bot("/report today")
    assert "SLA breaches: 2 of 3 chats with an SLA" in report.splitlines(), report


def test_routing_serves_the_highest_priority_first(desk: Any) -> None:
    at = desk.at
    at(0)
    for n, (contact, text) in enumerate(
        [("carol", "first"), ("dave", "second"), ("frank", "third")], 1
    ):
        assert opens(desk, contact, "sales", text) == n
        at(n * 10)
    maria, alice = desk.user("maria"), desk.user("alice")
    assert maria.dm_bot("/info set #2 priority=highest") == "#2: set the priority to highest."
    assert maria.dm_bot("/info set #3 priority=medium") == "#3: set the priority to medium."
    queue = maria.dm_bot("/queue all").splitlines()
    assert [line.split()[0] for line in queue[1:4]] == ["#2", "#3", "#1"]
    # alice (limit 1) becomes available: auto routing hands her the most urgent chat
    assert alice.dm_bot("/status available").startswith("You are now available for chats.")
    repo = desk.bot.services.repo
    wait_until(lambda: repo.get(2).agent == "alice", what="#2 routed to alice")
    assert repo.get(1).agent is None and repo.get(3).agent is None
    # she closes it: the next one is #3 (medium) before #1 (no priority), though #1 came first
    closes(desk, "alice", 2, "/close done")
    wait_until(lambda: repo.get(3).agent == "alice", what="#3 routed next")
    assert repo.get(1).agent is None
    # sales has no supervisor room: its queue alert goes to timers.supervisor_room
    at(400)
    assert room_texts(desk, "desk-leads")[-1].startswith(
        "Conversation #1 from @carol (Carol Contact) in sales has waited"
    )
    assert room_texts(desk, "support-leads") == []


def test_contact_rates_typed_and_by_button(desk: Any) -> None:
    at = desk.at
    bob, maria = desk.user("bob"), desk.user("maria")
    assert bob.dm_bot("/status available") == "You are now available for chats."
    repo = desk.bot.services.repo
    prompt = (
        "How did we do on conversation #{n}? Reply with a number from 1 (poor) to 5 (excellent),"
        " optionally followed by a comment, e.g. `5 quick and friendly`."
    )
    ratings: dict[str, int] = {}
    for n, (contact, answer) in enumerate([("carol", "typed"), ("dave", "button")], 1):
        at(n * 1000)
        assert opens(desk, contact, "support", "My printer is jammed") == n
        assert bob.dm_bot(f"/take {n}").startswith(f"You took #{n}")
        room_of(desk, "bob", n).say("Hello, here is the fix")
        at(n * 1000 + 60)
        closes(desk, "bob", n, "/close fixed")
        person = desk.user(contact)
        asked = wait_until(
            lambda p=person, k=n: [
                m
                for m in desk.messages(p.bot_dm)
                if m.get("msg") == prompt.format(n=k)
                and (m.get("u") or {}).get("username") == desk.bot_username
            ],
            what=f"the rating question for #{n}",
        )
        # the contact reads that the chat is closed first, then the question
        said = dm_texts(desk, contact)
        closed_line = f"Your conversation #{n} is closed. Write to me again any time."
        assert said.index(closed_line) < said.index(prompt.format(n=n)), said
        actions = asked[0]["attachments"][0]["actions"]
        assert [(a["text"], a["msg"], a.get("msg_in_chat_window")) for a in actions] == [
            ("5 ★★★★★", "5", True),
            ("4 ★★★★☆", "4", True),
            ("3 ★★★☆☆", "3", True),
            ("2 ★★☆☆☆", "2", True),
            ("1 ★☆☆☆☆", "1", True),
        ]
        if answer == "typed":
            reply = person.dm_bot("4 great help")
            ratings[contact] = 4
        else:
            # a client shows the buttons; pressing one posts its `msg` as the contact
            reply = person.dm_bot(actions[0]["msg"])
            ratings[contact] = 5
        assert reply == f"Thank you for rating conversation #{n}: {ratings[contact]}/5."
        assert repo.open_for_contact(contact) is None  # an answer, not a new case

    # once answered, the same digit is a new question for the team again
    assert desk.user("carol").dm_bot("4").startswith("Hello! Which team can help you?")
    # the agent hears about it, and /info and /history show it
    assert "@carol rated #1 4/5 ★★★★☆: great help" in desk.console("bob", 1)
    assert 'Satisfaction: 4/5 "great help"' in bob.dm_bot("/info #1").splitlines()
    assert "Satisfaction: 5/5" in bob.dm_bot("/info #2").splitlines()
    history = maria.dm_bot("/history @dave")
    assert "rated 5/5" in history, history

    sent = maria.in_room(maria.bot_dm).say("/report today +csv")
    text = desk.wait_bot_messages(maria.bot_dm, 1, after=sent.id)[0]
    assert "Satisfaction: p50 4.5 · average 4.50 (2 ratings)" in text.splitlines(), text
    csv_file = wait_until(
        lambda: next(
            (
                m
                for m in desk.messages(maria.bot_dm)
                if (m.get("file") or {}).get("name", "").endswith(".csv")
            ),
            None,
        ),
        what="the CSV",
    )
    data = maria.rest.download(csv_file["attachments"][0]["title_link"]).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data)))
    assert {r["number"]: r["satisfaction"] for r in rows} == {"1": "4", "2": "5"}
    assert {r["sla"] for r in rows} == {"standard"}

    # the next morning's digest in support's room carries the ratings and the SLA count
    posted = desk.bot.reports.digest(now=desk.t0 + timedelta(days=1))
    assert posted["support-leads"].splitlines()[1:] == [
        "support: Opened 2 · served 2 · abandoned 0 · closed 2",
        "  First response: p50 0s · p90 0s (2 chats)",
        "  Handle time: p50 1m 00s · p90 1m 00s (2 chats)",
        "  SLA breaches: 0 of 2 chats with an SLA",
        "  Satisfaction: p50 4.5 · average 4.50 (2 ratings)",
    ]
