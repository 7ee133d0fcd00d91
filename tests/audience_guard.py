"""The suite-wide audience guard (issue 16): no agent-only text in a room a customer reads.

Every test runs under `guard_audiences` (autouse, tests/conftest.py). It records, at the chat
port (`RocketChatClient.send`/`post`), the room of every message sent while the bot is telling
agents something (a console note, `Console.tell`; an answer to a command a staff member ran,
`Context.reply`). At the end of the test it looks those rooms up on every dev server the test
started and fails when one is a room where someone who is not staff reads: a livechat room
(the visitor), a case room or a DM with a contact, a channel with contacts in it. A leak fails
the test that caused it, whatever it was testing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

STAFF_ROLES = frozenset({"admin", "bot", "livechat-agent", "livechat-manager", "livechat-monitor"})


class Recorder:
    """Where the bot sent what it meant for agents only: (rid, text), taken at the chat port
    while a console note or a staff member's command answer is being sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.sent: list[tuple[str, str]] = []
        #: agents the bot's configuration lists (`departments.*.agents`) without the server's
        #: agent role: staff too (DESIGN "Two audiences"), seen when they run a command
        self.yaml_agents: set[str] = set()
        self.servers: list[Any] = []

    @contextmanager
    def agents_only(self) -> Iterator[None]:
        depth = getattr(self.local, "depth", 0)
        self.local.depth = depth + 1
        try:
            yield
        finally:
            self.local.depth = depth

    def sending(self, rid: str, text: str) -> None:
        if getattr(self.local, "depth", 0):
            with self.lock:
                self.sent.append((rid, text))

    def leaks(self) -> list[str]:
        found = []
        for server in self.servers:
            state = server.state
            with state.lock:
                users = {u.id: u for u in state.users.values()}
                for rid, text in self.sent:
                    room = state.room(rid)
                    if room is not None and _customer_reads(state, room, users, self.yaml_agents):
                        found.append(f"{room.get('t')} room {rid}: {text[:120]!r}")
        return found


def _customer_reads(
    state: Any, room: dict[str, Any], users: dict[str, Any], yaml_agents: set[str]
) -> bool:
    if room.get("t") == "l":
        return True  # the visitor reads every stored message of a livechat room
    for (rid, uid), _sub in state.subs.items():
        if rid != room["_id"]:
            continue
        user = users.get(uid)
        if user is None or user.username in yaml_agents:
            continue
        if not (STAFF_ROLES & set(user.roles)):
            return True
    return False


@pytest.fixture(autouse=True)
def guard_audiences(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    from bot.cmd.context import Context
    from bot.devserver import DevServer
    from bot.rocketchat.client import RocketChatClient
    from bot.services.console import Console

    recorder = Recorder()
    tell, reply, start = Console.tell, Context.reply, DevServer.start
    send, post = RocketChatClient.send, RocketChatClient.post

    def recorded_tell(self: Any, *args: Any, **kwargs: Any) -> None:
        with recorder.agents_only():
            tell(self, *args, **kwargs)

    def recorded_reply(self: Any, text: str) -> None:
        replies = getattr(self.services, "replies", None)
        if replies is not None and replies.is_staff(self.user.username):
            if self.user.username in replies.directory.roster.agents:
                recorder.yaml_agents.add(self.user.username)
            with recorder.agents_only():
                reply(self, text)
        else:
            reply(self, text)

    def recorded_send(self: Any, rid: str, text: str, **kwargs: Any) -> Any:
        recorder.sending(rid, text)
        return send(self, rid, text, **kwargs)

    def recorded_post(self: Any, rid: str, text: str, **kwargs: Any) -> Any:
        recorder.sending(rid, text)
        return post(self, rid, text, **kwargs)

    def recorded_start(self: Any) -> Any:
        recorder.servers.append(self)
        return start(self)

    monkeypatch.setattr(Console, "tell", recorded_tell)
    monkeypatch.setattr(Context, "reply", recorded_reply)
    monkeypatch.setattr(RocketChatClient, "send", recorded_send)
    monkeypatch.setattr(RocketChatClient, "post", recorded_post)
    monkeypatch.setattr(DevServer, "start", recorded_start)
    yield recorder
    leaks = recorder.leaks()
    if leaks:
        pytest.fail(
            "agent-only text in a room a customer reads:\n  " + "\n  ".join(leaks[:20]),
            pytrace=False,
        )
