"""The demo's stage: the seeded people typing over REST (`Session`), and the printer that shows
everything new in every room in the order the server stored it (`Printer`)."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, TextIO

import yaml

BOT = "omnicat"
WAIT = 10.0
#: the PDF is made off the event path; how long the script waits for it to arrive
PDF_WAIT = 5.0


class DemoFailed(Exception):
    """The bot did not do what the script waits for, in time."""


def seed() -> dict[str, Any]:
    """The packaged copy of `config/devserver-seed.yaml` (works from an installed wheel too)."""
    text = resources.files("bot").joinpath("data/devserver-seed.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def password_of(data: dict[str, Any], username: str) -> str:
    for user in data.get("users") or []:
        if user.get("username") == username:
            return str(user.get("password", "pass"))
    raise KeyError(f"the seed has no user {username!r}")


class Printer:
    """Prints what is new in every room since the last `flush`: `[#dm carol] omnicat: …`."""

    def __init__(self, server: Any, out: TextIO) -> None:
        self.server = server
        self.out = out
        self._seen: dict[str, int] = {}

    def note(self, text: str, *, wrap: bool = True) -> None:
        if wrap:
            text = textwrap.fill(text, 100, initial_indent="# ", subsequent_indent="# ")
        else:  # paths and URLs stay on one line, ready to copy
            text = "# " + text
        self.out.write(text + "\n")
        self.out.flush()

    def flush(self) -> None:
        state = self.server.state
        with state.lock:
            rids = list(state.messages)
        fresh: list[tuple[str, int, str, dict[str, Any]]] = []
        for rid in rids:
            messages = self.server.messages(rid)
            start = self._seen.get(rid, 0)
            self._seen[rid] = len(messages)
            for i, message in enumerate(messages[start:], start):
                fresh.append((str(message.get("ts", "")), i, rid, message))
        for _, _, rid, message in sorted(fresh, key=lambda item: (item[0], item[1])):
            self._line(self._label(rid), message)
        self.out.flush()

    def flush_quietly(self) -> None:
        state = self.server.state
        with state.lock:
            for rid, messages in state.messages.items():
                self._seen[rid] = len(messages)

    def _label(self, rid: str) -> str:
        room = self.server.state.room(rid) or {}
        if room.get("t") == "d":
            others = [u for u in room.get("usernames") or [] if u != BOT]
            return "dm " + (others[0] if others else BOT)
        if room.get("t") == "l":
            return "livechat " + str(room.get("fname") or rid)
        return str(room.get("fname") or room.get("name") or rid)

    def _line(self, room: str, message: dict[str, Any]) -> None:
        author = (message.get("u") or {}).get("username", "?")
        kind = message.get("t")
        if kind:
            self.out.write(f"[#{room}] * {_system_text(kind, message, author)}\n")
            return
        if message.get("tmid"):
            room += " › thread"  # an agent's console thread (issue 16)
        parts = [str(message.get("msg") or "")]
        for att in message.get("attachments") or []:
            for key in ("title", "text"):
                if att.get(key):
                    parts.append(str(att[key]))
            for action in att.get("actions") or []:
                parts.append(f"[button {action.get('text')!r} sends {action.get('msg')!r}]")
        if message.get("file"):
            parts.append(f"[file {message['file'].get('name')}]")
        text = "\n".join(p for p in parts if p)
        head = f"[#{room}] {author}: "
        lines = text.splitlines() or [""]
        self.out.write(head + lines[0] + "\n")
        for rest in lines[1:]:
            self.out.write(" " * len(head) + rest + "\n")


def _system_text(kind: str, message: dict[str, Any], author: str) -> str:
    who = message.get("msg") or author
    return {
        "uj": f"{who} joined",
        "ul": f"{who} left",
        "au": f"{who} was added by {author}",
        "ru": f"{who} was removed by {author}",
        "room_changed_topic": f"topic: {message.get('msg')}",
        "room-archived": "room archived",
    }.get(kind, f"({kind}) {message.get('msg') or ''}".strip())


class Session:
    """The people of the demo and what they type; waits for the bot after every line."""

    def __init__(self, server: Any, bot: Any, data: dict[str, Any], printer: Printer) -> None:
        from bot.rocketchat.rest import RestClient

        self.server = server
        self.bot = bot
        self.data = data
        self.printer = printer
        self._make = RestClient
        self.people: dict[str, Any] = {}
        self.pause = 0.0

    def person(self, name: str) -> Any:
        if name not in self.people:
            rest = self._make(self.server.url, username=name, password=password_of(self.data, name))
            rest.login()
            self.people[name] = rest
        return self.people[name]

    def dm_rid(self, name: str) -> str:
        return str(self.person(name).dm_create(BOT).id)

    def say(self, who: str, rid: str, text: str, replies: int = 1) -> list[str]:
        """`who` posts `text` in `rid`; wait for `replies` bot messages there, then for the bot
        to be idle; print what happened everywhere."""
        sent = self.person(who).post_message(rid, text)
        if not replies:
            # Nothing is said back here: the bot is done once it has handled the line. Idle
            # alone is not enough: the line may not have reached the bot yet, and the next
            # step may depend on it (a hold needs the agent's last reply recorded).
            if not wait_for(lambda: self.bot.store.is_processed(sent.id), WAIT):
                self.printer.flush()
                raise DemoFailed(f"@{BOT} did not handle {text!r} within {WAIT:.0f} s")
            self.bot.app.wait_idle(WAIT)
            self.printer.flush()
            return []
        got = wait_for(lambda: self._bot_after(rid, sent.id, replies), WAIT)
        if got is None:
            self.printer.flush()
            raise DemoFailed(f"no reply from @{BOT} to {text!r} within {WAIT:.0f} s")
        self.bot.app.wait_idle(WAIT)
        self.printer.flush()
        time.sleep(self.pause)
        return got

    def dm(self, who: str, text: str, replies: int = 1) -> list[str]:
        return self.say(who, self.dm_rid(who), text, replies)

    def console(self, who: str, number: int, text: str, replies: int = 1) -> list[str]:
        """`who` types `text` in their console thread for conversation `number` (the thread
        the bot started in their DM when they got the chat); wait for the answers there."""
        thread = wait_for(lambda: self.bot.services.console.repo.get(number, who), WAIT)
        if thread is None:
            raise DemoFailed(f"@{who} has no console thread for #{number}")
        sent = self.person(who).post_message(thread.dm_rid, text, tmid=thread.root_id)
        got = wait_for(lambda: self._bot_after(thread.dm_rid, sent.id, replies), WAIT)
        if got is None:
            self.printer.flush()
            raise DemoFailed(f"no answer from @{BOT} to {text!r} in the thread within {WAIT:.0f} s")
        self.bot.app.wait_idle(WAIT)
        self.printer.flush()
        time.sleep(self.pause)
        return got

    def _bot_after(self, rid: str, after: str, count: int) -> list[str] | None:
        messages = self.server.messages(rid)
        ids = [m.get("_id") for m in messages]
        if after not in ids:
            return None
        texts = [
            str(m.get("msg", ""))
            for m in messages[ids.index(after) + 1 :]
            if (m.get("u") or {}).get("username") == BOT and not m.get("t")
        ]
        return texts if len(texts) >= count else None

    def close(self) -> None:
        for rest in self.people.values():
            rest.session.close()


def wait_for(cond: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(0.05)
