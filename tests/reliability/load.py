"""The load driver: start the scripted desk, let it run while something hostile happens, stop it
so every round in flight completes, then read back the answers.

    load = Load(server, agents=agent_names(10), contacts=contact_names(30))
    load.start()
    ... drop sockets / kill the bot ...
    load.finish()                 # stop + join: each script completes the step in flight
    figures = load.read_answers() # from the server's log: lines, answered once, doubled, missing
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bot.devserver import DevServer
from reliability.scripts import (
    AgentScript,
    Answers,
    ContactScript,
    Person,
    Tally,
    Visitor,
    VisitorScript,
    answers,
    visitor_answers,
)


class Load:
    def __init__(
        self,
        server: DevServer,
        *,
        agents: list[str],
        contacts: list[str],
        reply_timeout: float = 30.0,
        seed: int = 7,
        intake: str = "dm",
    ) -> None:
        """`intake="livechat"`: the contacts are livechat visitors (visitor REST, no account)
        named after `contacts`, instead of users writing to the bot's DM."""
        self.server = server
        self.stop_event = threading.Event()
        people = agents if intake == "livechat" else [*agents, *contacts]
        self.people = {name: Person(server, name) for name in people}
        self.visitors = [Visitor(server, name) for name in contacts] if intake == "livechat" else []
        self.scripts: list[Any] = [
            AgentScript(self.people[n], self.stop_event, reply_timeout=reply_timeout, seed=seed + i)
            for i, n in enumerate(agents)
        ]
        if intake == "livechat":
            self.scripts += [
                VisitorScript(v, self.stop_event, reply_timeout=reply_timeout, seed=seed + 100 + i)
                for i, v in enumerate(self.visitors)
            ]
        else:
            self.scripts += [
                ContactScript(
                    self.people[n],
                    self.stop_event,
                    reply_timeout=reply_timeout,
                    seed=seed + 100 + i,
                )
                for i, n in enumerate(contacts)
            ]
        self.started_at = 0.0
        self.stopped_at = 0.0

    def start(self) -> Load:
        self.started_at = time.monotonic()
        for s in self.scripts:
            s.start()
        return self

    def finish(self, timeout: float = 120.0) -> Tally:
        self.stop_event.set()
        self.stopped_at = time.monotonic()
        deadline = time.monotonic() + timeout
        for s in self.scripts:
            s.join(max(0.1, deadline - time.monotonic()))
        total = Tally()
        for s in self.scripts:
            total.add(s.tally)
            if s.is_alive():
                total.errors.append(f"{s.name} still running after {timeout:.0f} s")
        return total

    def read_answers(self) -> Answers:
        out = Answers()
        for person in self.people.values():
            out.add(answers(self.server, person.username, person.bot_dm))
        for visitor in self.visitors:
            out.add(visitor_answers(self.server, visitor))
        return out

    def contact_usernames(self, contacts: list[str]) -> list[str]:
        """The contacts' usernames in the store (a visitor is `guest-N`)."""
        return [v.username for v in self.visitors] if self.visitors else list(contacts)

    def close(self) -> None:
        self.stop_event.set()
        for person in self.people.values():
            person.close()
        for visitor in self.visitors:
            visitor.close()


class Every(threading.Thread):
    """Call `fn` every `period` seconds until stopped; counts the calls."""

    def __init__(self, period: float, fn: Callable[[], object], name: str = "every") -> None:
        super().__init__(name=name, daemon=True)
        self.period = period
        self.fn = fn
        self.count = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.period):
            self.fn()
            self.count += 1

    def stop(self) -> int:
        self._stop_event.set()
        self.join(10)
        return self.count
