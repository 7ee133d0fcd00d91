"""In-memory twins of the chat port and the runtime store, for unit tests of handlers and the
dispatcher. They record effects so tests assert what the bot did, not how."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.chat.errors import NotFound, RocketChatError
from bot.chat.types import (
    Attachment,
    FileInfo,
    Message,
    Room,
    Subscription,
    User,
    UserRef,
)

BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Clock:
    """A test's `now`, moved on by hand (the workflow and timers read it as their clock)."""

    def __init__(self) -> None:
        self.now = BASE_TIME

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Effect:
    """One call the bot made: `("send", rid, text)` style, kept typed for readable asserts."""

    kind: str
    rid: str | None = None
    text: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class FakeChat:
    """`bot.chat.port.ChatPort` in memory: rooms with histories, users, and a log of effects."""

    def __init__(self, bot: User | None = None) -> None:
        self.bot_user = bot or User(id="bot0", username="omnicat", roles=("bot",))
        self.users: dict[str, User] = {self.bot_user.username: self.bot_user}
        self.rooms: dict[str, Room] = {}
        self.messages: dict[str, list[Message]] = {}
        self.members_of: dict[str, list[str]] = {}
        self.files_of: dict[str, list[FileInfo]] = {}
        self.presences: dict[str, str] = {}
        self.effects: list[Effect] = []
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)
        self._lock = threading.RLock()

    # --- test helpers ---------------------------------------------------------------------
    def add_user(self, username: str, *roles: str, name: str | None = None) -> User:
        user = User(id=f"u-{username}", username=username, name=name, roles=tuple(roles))
        self.users[username] = user
        return user

    def add_room(self, rid: str, type: str = "p", name: str | None = None) -> Room:
        room = Room(id=rid, type=type, name=name or rid)
        self.rooms[rid] = room
        self.messages.setdefault(rid, [])
        return room

    def next_ts(self) -> datetime:
        return BASE_TIME + timedelta(seconds=next(self._clock))

    def say(
        self,
        username: str,
        rid: str,
        text: str,
        *,
        room_type: str | None = None,
        tmid: str | None = None,
        ts: datetime | None = None,
        type: str | None = None,
    ) -> Message:
        """A message by `username` in `rid`, stored in the room's history (not dispatched)."""
        user = self.users.get(username) or self.add_user(username)
        room = self.rooms.get(rid) or self.add_room(rid, room_type or "p")
        msg = Message(
            id=f"m{next(self._ids)}",
            rid=rid,
            text=text,
            ts=ts or self.next_ts(),
            author=user.ref,
            tmid=tmid,
            type=type,
            room_type=room_type or room.type,
        )
        with self._lock:
            self.messages.setdefault(rid, []).append(msg)
        return msg

    def edit(self, msg: Message, text: str) -> Message:
        """The re-emitted message after an edit."""
        return Message(
            id=msg.id,
            rid=msg.rid,
            text=text,
            ts=msg.ts,
            author=msg.author,
            edited_at=self.next_ts(),
            edited_by=msg.author,
            room_type=msg.room_type,
        )

    def sent(self, rid: str | None = None) -> list[str]:
        """Texts the bot sent (in `rid`, or anywhere)."""
        with self._lock:
            return [
                e.text or ""
                for e in self.effects
                if e.kind in ("send", "post", "dm") and (rid is None or e.rid == rid)
            ]

    def dm_rid(self, username: str) -> str:
        return self.dm_room(username)

    def in_thread(self, root_id: str) -> list[str]:
        """Texts the bot sent in the thread of `root_id` (an agent's console thread)."""
        with self._lock:
            return [
                e.text or ""
                for e in self.effects
                if e.kind in ("send", "post") and e.data.get("tmid") == root_id
            ]

    def console(self, services: Any, number: int, agent: str | None = None) -> list[str]:
        """The agent-only notes about conversation `number` in its console threads (every
        agent's, in the order sent; or `agent`'s), roots excluded."""
        roots = {
            t.root_id
            for t in services.console.repo.of_conversation(number)
            if agent is None or t.agent == agent
        }
        with self._lock:
            return [
                e.text or ""
                for e in self.effects
                if e.kind in ("send", "post") and e.data.get("tmid") in roots
            ]

    # --- ChatPort ---------------------------------------------------------------------------
    def _record(self, kind: str, rid: str | None, text: str | None = None, **data: Any) -> None:
        with self._lock:
            self.effects.append(Effect(kind, rid, text, data))

    def _store(self, rid: str, text: str, **kw: Any) -> Message:
        msg = Message(
            id=f"m{next(self._ids)}",
            rid=rid,
            text=text,
            ts=self.next_ts(),
            author=self.bot_user.ref,
            **kw,
        )
        with self._lock:
            self.messages.setdefault(rid, []).append(msg)
        return msg

    def send(self, rid: str, text: str, *, tmid: str | None = None) -> Message | None:
        self._record("send", rid, text, tmid=tmid)
        return self._store(rid, text, tmid=tmid)

    def send_soon(
        self,
        rid: str,
        text: str,
        *,
        tmid: str | None = None,
        lost: Callable[[RocketChatError], None],
    ) -> None:
        """At once, through `send` (so a subclass's `send` sees the answer too)."""
        try:
            self.send(rid, text, tmid=tmid) if tmid else self.send(rid, text)
        except RocketChatError as exc:
            lost(exc)

    def post(
        self,
        rid: str,
        text: str,
        *,
        attachments: Sequence[Attachment] = (),
        alias: str | None = None,
        tmid: str | None = None,
    ) -> Message:
        self._record("post", rid, text, attachments=tuple(attachments), alias=alias, tmid=tmid)
        return self._store(rid, text, attachments=tuple(attachments), alias=alias, tmid=tmid)

    def update_message(self, rid: str, msg_id: str, text: str) -> Message:
        self._record("update", rid, text, msg_id=msg_id)
        msg = self.get_message(msg_id)
        if msg is None:
            raise NotFound(f"message {msg_id}")
        return msg

    def delete_message(self, rid: str, msg_id: str) -> None:
        self._record("delete", rid, None, msg_id=msg_id)

    def get_message(self, msg_id: str) -> Message | None:
        with self._lock:
            for msgs in self.messages.values():
                for m in msgs:
                    if m.id == msg_id:
                        return m
        return None

    def history(
        self,
        rid: str,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        count: int = 100,
    ) -> list[Message]:
        self._record("history", rid, None, oldest=oldest)
        with self._lock:
            msgs = list(self.messages.get(rid, []))
        return sorted(
            (
                m
                for m in msgs
                if (oldest is None or m.ts >= oldest) and (latest is None or m.ts <= latest)
            ),
            key=lambda m: m.ts,
        )

    def dm_room(self, username: str) -> str:
        user = self.users.get(username) or self.add_user(username)
        rid = "".join(sorted((self.bot_user.id, user.id)))
        if rid not in self.rooms:
            self.add_room(rid, "d", username)
        return rid

    def dm(self, username: str, text: str, *, attachments: Sequence[Attachment] = ()) -> Message:
        rid = self.dm_room(username)
        self._record("dm", rid, text, username=username, attachments=tuple(attachments))
        return self._store(rid, text, attachments=tuple(attachments))

    def create_group(self, name: str, members: Sequence[str] = (), *, topic: str = "") -> Room:
        rid = f"g-{name}"
        self._record("create_group", rid, name, members=tuple(members), topic=topic)
        room = self.add_room(rid, "p", name)
        self.members_of[rid] = [self.bot_user.username, *members]
        return room

    def room_info(self, rid: str) -> Room | None:
        return self.rooms.get(rid)

    def invite(self, rid: str, user_id: str) -> None:
        self._record("invite", rid, None, user_id=user_id)

    def kick(self, rid: str, user_id: str) -> None:
        self._record("kick", rid, None, user_id=user_id)

    def archive(self, rid: str) -> None:
        self._record("archive", rid)

    def set_topic(self, rid: str, topic: str) -> None:
        self._record("set_topic", rid, topic)

    def members(self, rid: str) -> list[User]:
        return [self.users[u] for u in self.members_of.get(rid, []) if u in self.users]

    def files(self, rid: str) -> list[FileInfo]:
        return list(self.files_of.get(rid, []))

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(id=f"s-{rid}", rid=rid, type=room.type, name=room.name)
            for rid, room in sorted(self.rooms.items())
        ]

    def upload(
        self,
        rid: str,
        data: bytes,
        filename: str,
        mime: str,
        *,
        message: str = "",
        tmid: str | None = None,
    ) -> Message:
        self._record(
            "upload", rid, message, filename=filename, mime=mime, size=len(data), tmid=tmid
        )
        return self._store(rid, message, tmid=tmid)

    def download(self, url: str) -> bytes:
        raise NotFound(url)

    def user(self, *, username: str | None = None, user_id: str | None = None) -> User | None:
        for user in self.users.values():
            if user.username == username or (user_id and user.id == user_id):
                return user
        return None

    def presence(self, user_id: str) -> str:
        return self.presences.get(user_id, "online")


@dataclass(frozen=True)
class FakeCursor:
    rid: str
    last_ts: datetime
    last_msg_id: str | None


class FakeStore:
    """The runtime part of `bot.store.Store` the dispatcher uses, in memory."""

    def __init__(self) -> None:
        self.processed: dict[tuple[str, str], str] = {}
        self._cursors: dict[str, FakeCursor] = {}
        self._lock = threading.Lock()

    def mark_processed(self, msg_id: str, revision: Any, rid: str) -> bool:
        with self._lock:
            key = (msg_id, str(revision))
            if key in self.processed:
                return False
            self.processed[key] = rid
            return True

    def is_processed(self, msg_id: str, revision: Any = None) -> bool:
        with self._lock:
            if revision is not None:
                return (msg_id, str(revision)) in self.processed
            return any(mid == msg_id for mid, _ in self.processed)

    def cursor(self, rid: str) -> FakeCursor | None:
        with self._lock:
            return self._cursors.get(rid)

    def cursors(self) -> list[FakeCursor]:
        with self._lock:
            return [self._cursors[r] for r in sorted(self._cursors)]

    def advance_cursor(self, rid: str, ts: datetime, msg_id: str | None = None) -> bool:
        with self._lock:
            old = self._cursors.get(rid)
            if old is not None and ts <= old.last_ts:
                return False
            self._cursors[rid] = FakeCursor(rid, ts, msg_id)
            return True


def user_ref(username: str) -> UserRef:
    return UserRef(id=f"u-{username}", username=username)
