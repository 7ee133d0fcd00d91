"""The bot wired as `omnicat run` wires it (workflow, transcripts, timers, toolkit) on a real
SQLite store and the in-memory `FakeChat`, for fuzzing: every line goes through `App.process`
synchronously, and the store can be snapshotted around it.

People: alice (agent, sales), bob and erin (agents, support), maria (livechat-manager), admin
(admin), carol, dave and zoe (contacts). `replenish()` keeps a few conversations open in
different states so random lines keep finding something to act on.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from desk import build
from fakes import FakeChat

from bot.chat.types import Message
from bot.config.load import parse_config
from bot.domain import State
from bot.store import Store

AGENTS = {"alice": "sales", "bob": "support", "erin": "support"}
MANAGERS = ("maria",)
ADMINS = ("admin",)
CONTACTS = ("carol", "dave", "zoe")

#: bookkeeping tables a refused command may touch (dedupe, cursors, caches)
NOT_STATE = frozenset(
    {"processed_messages", "room_cursors", "users_cache", "schema_migrations", "kv"}
)


class FuzzDesk:
    def __init__(self, tmp_path: Path) -> None:
        data = {
            "server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"},
            "departments": {
                "sales": {"agents": ["alice"], "closing_tags": ["billing", "refund"]},
                "support": {"agents": ["bob", "erin"], "require_tags": False},
            },
            "commands": {"rate_limit": {"count": 0}},
            "intake": {"channels": [{"room": "help", "department": "support"}]},
        }
        self.config = parse_config(yaml.safe_dump(data, sort_keys=False), "<fuzz>", env={})
        self.chat = FakeChat()
        for name in AGENTS:
            self.chat.add_user(name, "user", "livechat-agent", name=f"Agent {name}")
        self.chat.add_user("maria", "user", "livechat-manager", name="Maria Manager")
        self.chat.add_user("admin", "admin", name="Admin")
        for name in CONTACTS:
            self.chat.add_user(name, "user", name=f"Contact {name}")
        self.chat.add_room("general", "c", "general")
        self.chat.add_room("help", "c", "help")
        self.store = Store(f"sqlite:///{tmp_path / 'fuzz.db'}")
        # Everything the runtime builds; timers built but not started (no alarm rings during a
        # fuzz run). No transport: App.process is called directly.
        self.parts = build(
            store=self.store,
            config=self.config,
            chat=self.chat,
            transcripts=True,
            timers=True,
            shortcuts=True,
            reports=True,
        )
        self.app, self.wf = self.parts.app, self.parts.services
        self._tables: list[tuple[str, sa.Table]] | None = None
        for name in AGENTS:
            self.say(name, self.chat.dm_room(name), "/status available")

    # --- talking ----------------------------------------------------------------------------
    def say(self, username: str, rid: str, text: str) -> tuple[str, list[str]]:
        """`username` writes `text` in `rid`: (what the app did, the bot's messages in `rid`)."""
        room = self.chat.rooms.get(rid)
        before = len(self.chat.sent(rid))
        msg: Message = self.chat.say(username, rid, text, room_type=room.type if room else None)
        result = self.app.process(msg)
        return result, self.chat.sent(rid)[before:]

    def rooms_for(self, username: str) -> list[str]:
        """Where `username` might type: their DM, a public channel, conversation rooms."""
        rids = [self.chat.dm_room(username), "general", "help"]
        rids += [c.rid for c in self.wf.repo.open_conversations() if c.rid]
        return rids

    def replenish(self) -> None:
        """At least one queued, one serving and one held conversation (when contacts allow)."""
        open_ = {c.contact_username: c for c in self.wf.repo.open_conversations()}
        for contact, dept in zip(CONTACTS, ("support", "sales", "support"), strict=True):
            if contact not in open_:
                dm = self.chat.dm_room(contact)
                self.say(contact, dm, f"Hello, {contact} needs help")
                self.say(contact, dm, dept)
        convs = self.wf.repo.open_conversations()
        states = {c.state for c in convs}
        bob = self.chat.users["bob"]
        for conv in convs:
            if (
                State.SERVING not in states
                and conv.state is State.QUEUED
                and conv.department in (None, "support")
            ):
                try:
                    self.wf.conversations.take(bob, conv.number)
                    states.add(State.SERVING)
                except Exception:  # best effort: the fuzz lines may have changed things
                    logging.getLogger(__name__).debug("replenish take", exc_info=True)

    # --- the store -------------------------------------------------------------------------
    def settle(self, timeout: float = 60.0) -> None:
        """Wait for the slow jobs (PDF transcripts of earlier closes) to finish writing."""
        deadline = time.monotonic() + timeout
        while self.app.slow.pending and time.monotonic() < deadline:
            time.sleep(0.01)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every state table's rows (sorted), bookkeeping tables left out (slow jobs done)."""
        self.settle()
        if self._tables is None:
            meta = sa.MetaData()
            meta.reflect(self.store.engine)
            self._tables = sorted(meta.tables.items())
        out = {}
        with self.store.reading() as conn:
            for name, table in self._tables:
                if name in NOT_STATE:
                    continue
                rows = conn.execute(sa.select(table)).all()
                out[name] = sorted((tuple(r) for r in rows), key=repr)
        return out

    def close(self) -> None:
        self.app.stop(10)
        self.store.close()
