"""The toolkit's test desk: the real dispatcher, workflow, toolkit hooks and SQLite store on the
in-memory FakeChat, driven by a controllable clock. Other `test_toolkit_*` modules import it.

    desk.serving("carol", "alice")           # carol's conversation, taken by alice
    desk.say("carol", rid, "hello")          # a message through App.process, at clock + 1 s
    desk.cmd("alice", rid, "/info")          # the bot's last answer in that room
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from desk import build
from fakes import Clock, FakeChat

from bot.chat.types import FileInfo, Message
from bot.config.load import parse_config
from bot.domain import Conversation
from bot.store import Store

DEPARTMENTS = {
    "support": {"agents": ["alice", "bob"]},
    "sales": {"agents": ["carl"]},
}


class Desk:
    def __init__(self, tmp_path: Path, config: dict[str, Any] | None = None) -> None:
        data: dict[str, Any] = {
            "server": {"url": "http://chat.example", "username": "omnicat", "password": "x"},
            "departments": DEPARTMENTS,
            "intake": {"dm": {"department": "support"}},
            "commands": {"rate_limit": {"count": 0}},
        }
        data.update(config or {})
        self.config = parse_config(yaml.safe_dump(data, sort_keys=False), "<test>", env={})
        self.chat = FakeChat()
        for name in ("alice", "bob", "carl"):
            self.chat.add_user(name, "user", "livechat-agent", name=f"{name.title()} Agent")
        self.chat.add_user("maria", "user", "livechat-manager", name="Maria Manager")
        self.chat.add_user("mona", "user", "livechat-monitor", name="Mona Monitor")
        self.chat.add_user("carol", "user", name="Carol Contact")
        self.chat.add_user("dave", "user", name="Dave Contact")
        self.clock = Clock()
        self.store = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
        # no transport: messages are processed directly
        parts = build(
            store=self.store, config=self.config, chat=self.chat, clock=self.clock, shortcuts=True
        )
        self.app, self.wf = parts.app, parts.services

    def close(self) -> None:
        self.app.stop(5)
        self.store.close()

    # --- talking ------------------------------------------------------------------------------
    def post(self, username: str, rid: str, text: str, *, at: Any = None, **kw: Any) -> Message:
        """A message by `username` through the dispatcher (the clock moves 1 s first)."""
        if at is None:
            self.clock.tick()
        else:
            self.clock.now = at
        msg = self.chat.say(username, rid, text, ts=self.clock.now)
        if kw:
            import dataclasses

            msg = dataclasses.replace(msg, **kw)
            self.chat.messages[rid][-1] = msg
        self.app.process(msg)
        return msg

    def say(self, username: str, rid: str, text: str, **kw: Any) -> list[str]:
        """Post; the bot's messages in `rid` caused by it."""
        before = len(self.chat.sent(rid))
        self.post(username, rid, text, **kw)
        return self.chat.sent(rid)[before:]

    def cmd(self, username: str, rid: str, text: str) -> str:
        """The bot's last answer: where it was typed, or (typed by an agent in a conversation
        room, which the contact reads) in the agent's console thread for it."""
        conv = self.wf.repo.by_room(rid)
        if conv is None or conv.contact_username == username:
            out = self.say(username, rid, text)
        else:
            before = len(self.notes(conv.number, username))
            in_room = self.say(username, rid, text)
            out = self.notes(conv.number, username)[before:]
            assert not set(out) & set(in_room), in_room
        assert out, f"no answer to {text!r}"
        return out[-1]

    def notes(self, number: int, agent: str | None = None) -> list[str]:
        """The agent-only notes and answers about #number, in its console threads."""
        return self.chat.console(self.wf, number, agent)

    def dm(self, username: str, text: str) -> str:
        return self.cmd(username, self.chat.dm_room(username), text)

    def dms_to(self, username: str) -> list[str]:
        return self.chat.sent(self.chat.dm_room(username))

    def edit(self, msg: Message, text: str) -> None:
        self.clock.tick()
        self.app.process(self.chat.edit(msg, text))

    def delete(self, msg: Message) -> None:
        self.clock.tick()
        gone = Message(
            id=msg.id,
            rid=msg.rid,
            text="",
            ts=msg.ts,
            author=msg.author,
            type="rm",
            updated_at=self.clock.now,
        )
        self.app.process(gone)

    def upload(
        self, username: str, rid: str, name: str, mime: str, size: int, desc: str = ""
    ) -> Message:
        info = FileInfo(
            id=f"f-{name}",
            name=name,
            type=mime,
            size=size,
            description=desc or None,
            url=f"/file-upload/f-{name}/{name}",
        )
        return self.post(username, rid, desc, files=(info,))

    # --- conversations ------------------------------------------------------------------------
    def serving(
        self, contact: str, agent: str | None = "alice", text: str = "hello"
    ) -> Conversation:
        """`contact` opens a conversation (support); `agent` (if any) takes it."""
        if agent:
            self.dm(agent, "/status available")
        self.dm(contact, text)
        conv = self.wf.repo.open_for_contact(contact)
        assert conv is not None
        if agent and conv.agent != agent:
            self.dm(agent, f"/take {conv.number}")
        found = self.wf.repo.get(conv.number)
        assert found is not None
        return found

    def conv(self, number: int) -> Conversation:
        found = self.wf.repo.get(number)
        assert found is not None
        return found

    def close_conv(self, number: int, by: str = "alice", comment: str = "done") -> None:
        rid = self.conv(number).rid
        assert rid
        out = self.cmd(by, rid, f"/close {comment}")
        assert self.conv(number).state.value == "closed", out


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Desk]:
    d = Desk(tmp_path)
    yield d
    d.close()
