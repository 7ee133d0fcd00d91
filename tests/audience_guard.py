"""The suite-wide audience guard (issue 16): no agent-only text in a room a customer reads.

Every test runs under `guard_audiences` (autouse, tests/conftest.py). It records what the bot
meant for agents only: every console note (`Console.tell`) and every answer to a command a staff
member ran (`Context.reply`). At the end of the test it reads every room of every dev server the
test started and fails when one of those texts is a bot message in a room where someone who is
not staff reads: a livechat room (the visitor), a case room or a DM with a contact, a channel
with contacts in it. A leak fails the test that caused it, whatever it was testing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

STAFF_ROLES = frozenset({"admin", "bot", "livechat-agent", "livechat-manager", "livechat-monitor"})
#: texts too short or generic to tell an agent's note from a customer's line
MIN_LENGTH = 12


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.agent_only: set[str] = set()
        self.servers: list[Any] = []

    def agents(self, text: str) -> None:
        if text and len(text.strip()) >= MIN_LENGTH:
            with self.lock:
                self.agent_only.add(text)

    def leaks(self) -> list[str]:
        found = []
        for server in self.servers:
            state = server.state
            with state.lock:
                rooms = list(state.rooms.values())
                users = {u.id: u for u in state.users.values()}
                bots = {u.username for u in users.values() if "bot" in u.roles}
                for room in rooms:
                    rid = room["_id"]
                    if not _customer_reads(state, room, users):
                        continue
                    for msg in state.messages.get(rid, []):
                        author = (msg.get("u") or {}).get("username")
                        text = str(msg.get("msg") or "")
                        if author in bots and text in self.agent_only:
                            found.append(f"{room.get('t')} room {rid}: {text[:120]!r}")
        return found


def _customer_reads(state: Any, room: dict[str, Any], users: dict[str, Any]) -> bool:
    if room.get("t") == "l":
        return True  # the visitor reads every stored message of a livechat room
    for (rid, uid), _sub in state.subs.items():
        if rid != room["_id"]:
            continue
        user = users.get(uid)
        if user is not None and not (STAFF_ROLES & set(user.roles)):
            return True
    return False


@pytest.fixture(autouse=True)
def guard_audiences(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    from bot.cmd.context import Context
    from bot.devserver import DevServer
    from bot.services.console import Console

    recorder = Recorder()
    tell, reply, start = Console.tell, Context.reply, DevServer.start

    def recorded_tell(self: Any, conv: Any, agent: str, text: str, kind: Any = None) -> None:
        recorder.agents(text)
        tell(self, conv, agent, text, kind)

    def recorded_reply(self: Any, text: str) -> None:
        replies = getattr(self.services, "replies", None)
        if replies is not None and replies.is_staff(self.user.username):
            recorder.agents(text)
        reply(self, text)

    def recorded_start(self: Any) -> Any:
        recorder.servers.append(self)
        return start(self)

    monkeypatch.setattr(Console, "tell", recorded_tell)
    monkeypatch.setattr(Context, "reply", recorded_reply)
    monkeypatch.setattr(DevServer, "start", recorded_start)
    yield recorder
    leaks = recorder.leaks()
    if leaks:
        pytest.fail(
            "agent-only text in a room a customer reads:\n  " + "\n  ".join(leaks[:20]),
            pytrace=False,
        )
