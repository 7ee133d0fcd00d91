"""Take race at scale (issue 7): 50 agents, 200 rounds, exactly one winner per round.

The big race goes through the dispatcher and the `/take` command with threads (the real App,
workflow, command registry and SQLite store; the chat is the in-memory `FakeChat`): each round a
contact opens a chat and all 50 agents' `/take N` are processed at the same instant, each in its
own DM (so on different room workers, as in production). Issue 4's race runs over the wire at
full size: 20 agents posting `/take N` over REST at once, 50 rounds (dev server, real bot).
"""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import pytest
import yaml
from chat import wait_until
from desk import build
from fakes import FakeChat
from reliability.desk import agent_names, contact_names, desk_config, desk_seed, livechat_ready
from reliability.scripts import OPENED, TOLD_VISITOR, Person, Visitor, bot_lines

from bot.config.load import parse_config
from bot.domain import Refused, State
from bot.store import Store

AGENTS = 50
ROUNDS = 200

TOOK = re.compile(r"^You took #(\d+) ")
CONSOLE_ROOT = re.compile(r"^#\d+ · ")
LOST = re.compile(r"^Conversation #(\d+) was already taken by @(\w+)\.$")


class Desk:
    """App + workflow + a real store (SQLite or PostgreSQL) on a FakeChat; messages are
    processed directly."""

    def __init__(self, store_url: str, agents: list[str]) -> None:
        data = {
            "server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"},
            "departments": {"desk": {"agents": agents}},
            "commands": {"rate_limit": {"count": 0}},
        }
        self.config = parse_config(yaml.safe_dump(data), "<test>", env={})
        self.chat = FakeChat()
        for a in agents:
            self.chat.add_user(a, "user", "livechat-agent")
        self.store = Store(store_url)
        # no transport: App.process is called directly
        parts = build(store=self.store, config=self.config, chat=self.chat)
        self.app, self.wf = parts.app, parts.services

    def say(self, username: str, text: str) -> list[str]:
        """`username` writes `text` in their DM with the bot; the bot's answers there (at the
        top level: the winner's console thread, its root and notes, answer nothing)."""
        rid = self.chat.dm_room(username)
        before = len(self.chat.effects)
        self.app.process(self.chat.say(username, rid, text, room_type="d"))
        return [
            e.text or ""
            for e in self.chat.effects[before:]
            if e.kind in ("send", "post", "dm")
            and e.rid == rid
            and not e.data.get("tmid")
            and not CONSOLE_ROOT.match(e.text or "")
        ]


def race(desk: Desk, agents: list[str], rounds: int, *, via: str, first: int = 0) -> dict[str, Any]:
    """`rounds` rounds of all `agents` taking one new chat at once; figures for the printout.

    `via="service"` calls `Conversations.take` (the compare-and-set itself), `via="dispatcher"`
    processes a `/take N` message per agent through the App (dedupe, command framework, reply).
    """
    shuffle = random.Random(rounds).shuffle
    wins: dict[str, int] = {}
    refusals = 0
    started = time.monotonic()
    for rnd in range(first, first + rounds):
        contact = f"contact{rnd:03d}"  # a new contact: a returning one goes to their last agent
        desk.chat.add_user(contact, "user")
        told = desk.say(contact, f"Round {rnd}: please help")
        assert told and told[-1].startswith("Thanks! Your conversation #"), told
        number = desk.wf.repo.open_for_contact(contact).number
        answers: dict[str, str] = {}
        barrier = threading.Barrier(len(agents))

        def attempt(agent: str, answers: Any = answers, barrier: Any = barrier, n: int = number):
            barrier.wait()
            if via == "service":
                try:
                    desk.wf.conversations.take(desk.chat.users[agent], n)
                    answers[agent] = f"You took #{n} "
                except Refused as refused:
                    answers[agent] = str(refused)
            else:
                got = desk.say(agent, f"/take {n}")
                assert len(got) == 1, got  # exactly one answer each
                answers[agent] = got[0]

        order = list(agents)
        shuffle(order)  # threads started in another order each round: different winners
        threads = [threading.Thread(target=attempt, args=(a,)) for a in order]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(answers) == len(agents)
        winners = [a for a, got in answers.items() if TOOK.match(got)]
        assert len(winners) == 1, (number, answers)
        winner = winners[0]
        for agent, got in answers.items():
            if agent != winner:
                assert got == f"Conversation #{number} was already taken by @{winner}.", got
                refusals += 1
        conv = desk.wf.repo.get(number)
        assert conv.state is State.SERVING and conv.agent == winner
        taken = [e for e in desk.wf.repo.events(number) if e.kind == "taken"]
        assert len(taken) == 1 and taken[0].actor == winner
        wins[winner] = wins.get(winner, 0) + 1
        desk.wf.conversations.close(desk.chat.users[winner], number, "race round done")
    elapsed = time.monotonic() - started
    assert sum(wins.values()) == rounds and refusals == rounds * (len(agents) - 1)
    return {"winners": sum(wins.values()), "told": refusals, "distinct": len(wins), "s": elapsed}


DISPATCHER_ROUNDS = 20


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.both_stores
def test_take_race_50_agents_200_rounds(store_url: str, store_backend: str) -> None:
    agents = [f"agent{i:02d}" for i in range(AGENTS)]
    desk = Desk(store_url, agents)
    # PostgreSQL: the same 50 agents, half the rounds (the suite's time stays modest)
    share = 2 if store_backend == "postgresql" else 1
    rounds, dispatcher_rounds = ROUNDS // share, DISPATCHER_ROUNDS // share
    for a in agents:
        assert desk.say(a, "/status available") == ["You are now available for chats."]
    service = race(desk, agents, rounds, via="service")
    dispatcher = race(desk, agents, dispatcher_rounds, via="dispatcher", first=rounds)
    desk.app.stop(10)
    desk.store.close()
    for name, f, n in (
        ("service layer (Conversations.take)", service, rounds),
        ("dispatcher (/take messages)", dispatcher, dispatcher_rounds),
    ):
        print(
            f"\n[take-race] {store_backend}: {AGENTS} agents x {n} rounds via the {name}: "
            f"{f['winners']} "
            f"winners (one per round), {f['told']} told who won, {f['distinct']} distinct "
            f"winners, {f['s']:.1f} s ({f['s'] / n * 1000:.0f} ms/round)",
            end="",
        )
    print()


WIRE_AGENTS = 20
WIRE_ROUNDS = 50


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("intake", ["dm", "livechat"])
def test_take_race_over_the_wire(make_chat: Any, intake: str) -> None:
    """Issue 4's race at full size over the wire: 20 agents post `/take N` over REST at once,
    50 rounds; exactly one winner each round, the others told who won, and the store and the
    room agree (the room holds exactly the winner). `livechat`: the chats are livechat rooms
    of visitors (visitor REST), the winner is added to Rocket.Chat's room."""
    chat = make_chat(
        config=desk_config(WIRE_AGENTS, intake=intake), seed=desk_seed(WIRE_AGENTS, WIRE_ROUNDS)
    )
    if intake == "livechat":
        livechat_ready(chat.server, agent_names(WIRE_AGENTS))
    repo = chat.bot.services.repo
    started = time.monotonic()
    # All 50 chats first, while nobody is available: no "New chat" DM per agent per chat, so
    # the rounds are only the race. Ten contacts at a time is what the server takes quickly.
    contacts: list[Any] = [
        Visitor(chat.server, c) if intake == "livechat" else Person(chat.server, c)
        for c in contact_names(WIRE_ROUNDS)
    ]
    numbers: dict[str, int] = {}

    def open_chat(contact: Any) -> None:
        if isinstance(contact, Visitor):
            rid = contact.open()
            contact.say(rid, "I need help with the race")
            wait_until(
                lambda: any(TOLD_VISITOR.match(t) for t in bot_lines(chat.server, rid)),
                60,
                "the visitor's answer",
            )
            numbers[contact.username] = repo.by_room(rid).number
            return
        told = contact.ask("I need help with the race", 60) or ""
        opened = OPENED.match(told)
        assert opened, told
        numbers[contact.username] = int(opened.group(1))

    for batch in range(0, WIRE_ROUNDS, 10):
        threads = [threading.Thread(target=open_chat, args=(c,)) for c in contacts[batch:][:10]]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
    assert len(numbers) == WIRE_ROUNDS, sorted(numbers)
    agents = [Person(chat.server, a) for a in agent_names(WIRE_AGENTS)]
    for a in agents:
        available = a.ask("/status available", 30) or ""
        assert available.startswith("You are now available for chats."), available
    prepared = time.monotonic()

    winners: dict[str, int] = {}
    told = 0
    for contact in contacts:
        number = numbers[contact.username]
        answers: dict[str, str | None] = {}
        barrier = threading.Barrier(len(agents))

        def attempt(
            p: Person, answers: Any = answers, barrier: Any = barrier, number: int = number
        ) -> None:
            barrier.wait()
            answers[p.username] = p.ask(f"/take {number}", 60)

        threads = [threading.Thread(target=attempt, args=(a,)) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        assert len(answers) == WIRE_AGENTS and all(answers.values()), answers
        won = [u for u, got in answers.items() if got and TOOK.match(got)]
        assert len(won) == 1, answers
        winner = won[0]
        lost = {got for u, got in answers.items() if u != winner}
        assert lost == {f"Conversation #{number} was already taken by @{winner}."}, lost
        told += WIRE_AGENTS - 1
        winners[winner] = winners.get(winner, 0) + 1
        conv = repo.get(number)
        assert conv.state is State.SERVING and conv.agent == winner
        taken = [e for e in repo.events(number) if e.kind == "taken"]
        assert len(taken) == 1 and taken[0].actor == winner
        # a livechat visitor is no member of their room (no account): the bot and the winner are
        expected = {"omnicat", winner} | ({contact.username} if intake == "dm" else set())
        wait_until(
            lambda rid=conv.rid, expected=expected: (
                {u.username for u in chat.server.state.members(rid)} == expected
            ),
            what="the room to hold exactly the winner",
        )
    done = time.monotonic()
    for p in (*agents, *contacts):
        p.close()
    assert sum(winners.values()) == WIRE_ROUNDS and told == WIRE_ROUNDS * (WIRE_AGENTS - 1)
    print(
        f"\n[take-race] over the wire: {WIRE_AGENTS} agents x {WIRE_ROUNDS} rounds: "
        f"{sum(winners.values())} winners (one per round, {len(winners)} distinct), {told} "
        f"losers told who won, store and room agree; {prepared - started:.1f} s to open the "
        f"chats, {done - prepared:.1f} s of rounds ({(done - prepared) / WIRE_ROUNDS:.2f} s/round)"
    )
