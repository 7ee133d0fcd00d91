"""Scripted people: agents and contacts who run a support conversation over and over.

Each person is a thread that talks REST to the dev server as themselves, exactly as a person in a
browser would, and waits for the bot by reading the server's own message log (cheap, and it
spends no rate-limit budget). Agents run every command from their DM with the bot (`/take`,
`/hold #N`, `/resume #N`, `/close #N …`) so that, in that DM, everything the bot says is either a
reply to the line before it or one of a few recognisable notifications; that is what lets
`answers()` count, from the server's log alone, whether each line got exactly one answer.

A script never sends its next line before the previous one was answered (or `reply_timeout`
passed, which is recorded as a failure), so "the bot messages between two lines" are the answer.
"""

from __future__ import annotations

import functools
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.chat.errors import RocketChatError
from bot.devserver import DevServer
from bot.rocketchat.rest import RestClient

BOT = "omnicat"

#: what the bot says in a DM without being asked (everything else answers the line before it)
NOTIFICATIONS = (
    re.compile(r"^New chat #\d+"),
    re.compile(r"^You have been assigned #\d+"),
    re.compile(r"^#\d+ is back from hold"),
    re.compile(r"^A held chat came back"),
    re.compile(r"more chats are waiting"),
    re.compile(r"forwarded (to you|to \S+ \(.*\), assigned to you|to \S+, assigned to you)"),
    re.compile(r"invited you to conversation"),
    re.compile(r"^Your conversation #\d+ is closed\. Write to me again any time\.$"),
    re.compile(r"^#\d+ · "),  # a console thread's root (issue 16)
)

TOOK = re.compile(r"^You took #(\d+) .* Room: (\S+) \(")
#: in a console thread (issue 16): the note, and the thread's root naming the chat
ASSIGNED = re.compile(r"^@\S+ joined\. (You have been assigned|A held chat came back to you)")
ROOT = re.compile(r"^#(\d+) · .*Room: (\S+) \(", re.S)
OPENED = re.compile(r"^Thanks! Your conversation #(\d+) is in the private room (\S+) \(")
POINTED = re.compile(r"^Your conversation #(\d+) is open in (\S+) \(")


def is_notification(text: str) -> bool:
    return any(p.search(text) for p in NOTIFICATIONS)


class Person:
    """One user logged in over REST, with a DM to the bot."""

    def __init__(self, server: DevServer, username: str, password: str | None = None) -> None:
        self.server = server
        self.username = username
        self.rest = RestClient(
            server.url, username=username, password=password or f"{username}-dev"
        )
        self.me = self.rest.login()
        self.bot_dm = self.rest.dm_create(BOT).id

    def say(self, rid: str, text: str) -> str:
        """Post `text`; the message id. REST errors (a 429 the client could not wait out) retry."""
        for attempt in range(20):
            try:
                return self.rest.post_message(rid, text).id
            except RocketChatError:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def bot_lines_after(self, rid: str, msg_id: str) -> list[str]:
        """What the bot said (not system notes) in `rid` after message `msg_id`, oldest first."""
        state = self.server.state
        with state.lock:
            msgs = state.messages.get(rid, [])
            for i in range(len(msgs) - 1, -1, -1):
                if msgs[i]["_id"] == msg_id:
                    tail = msgs[i + 1 :]
                    break
            else:
                return []
            # top level only: a console thread's notes answer no command typed in the DM
            return [
                str(m.get("msg", ""))
                for m in tail
                if m["u"].get("username") == BOT and not m.get("t") and not m.get("tmid")
            ]

    def ask(self, text: str, timeout: float, stop: threading.Event | None = None) -> str | None:
        """Send `text` in the bot DM and wait for its answer (notifications skipped)."""
        sent = self.say(self.bot_dm, text)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answers = [t for t in self.bot_lines_after(self.bot_dm, sent) if not is_notification(t)]
            if answers:
                return answers[0]
            time.sleep(0.1)
        return None

    def close(self) -> None:
        self.rest.session.close()


@dataclass
class Tally:
    """What the scripts did and saw (each script owns one; summed at the end)."""

    lines: Counter[str] = field(default_factory=Counter)  # command word → lines sent
    outcomes: Counter[str] = field(default_factory=Counter)  # e.g. "took", "held", "closed"
    timeouts: list[str] = field(default_factory=list)  # lines never answered in time
    errors: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.lines.update(other.lines)
        self.outcomes.update(other.outcomes)
        self.timeouts += other.timeouts
        self.errors += other.errors


class Script(threading.Thread):
    """A person's loop until `stop` is set; finishes the step in flight before it ends."""

    def __init__(self, person: Person, stop: threading.Event, *, reply_timeout: float, seed: int):
        super().__init__(name=f"script-{person.username}", daemon=True)
        self.person = person
        self.stop_event = stop
        self.reply_timeout = reply_timeout
        self.tally = Tally()
        self.random = random.Random(seed)

    def ask(self, text: str) -> str | None:
        self.tally.lines[text.split()[0]] += 1
        answer = self.person.ask(text, self.reply_timeout)
        if answer is None:
            self.tally.timeouts.append(f"@{self.person.username}: {text}")
        return answer

    def pause(self, low: float, high: float) -> None:
        self.stop_event.wait(self.random.uniform(low, high))

    def run(self) -> None:
        try:
            self.script()
        except Exception as exc:  # recorded; the test fails on it with the reason
            self.tally.errors.append(f"@{self.person.username}: {type(exc).__name__}: {exc}")

    def script(self) -> None:
        raise NotImplementedError


class AgentScript(Script):
    """available → loop: serve the chats routing assigned to me (a returning contact goes to
    their last agent), else take the oldest; greet, hold, resume, close."""

    def __init__(self, *args: Any, requeue_share: float = 0.1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen_notes: set[str] = set()  # ids of "You have been assigned" DMs handled
        self.requeue_share = requeue_share

    def assigned(self) -> list[tuple[int, str]]:
        """Chats the bot assigned to me since I last looked (a chat may come back after a
        requeue: each notification counts, not each number)."""
        state = self.person.server.state
        with state.lock:
            msgs = list(state.messages.get(self.person.bot_dm, []))
        roots = {m["_id"]: str(m.get("msg", "")) for m in msgs if not m.get("tmid")}
        out = []
        for m in msgs:
            if m["u"].get("username") != BOT or not m.get("tmid"):
                continue
            if not ASSIGNED.match(str(m.get("msg", ""))) or m["_id"] in self.seen_notes:
                continue
            root = ROOT.match(roots.get(m["tmid"], ""))
            if root:
                self.seen_notes.add(m["_id"])
                out.append((int(root.group(1)), root.group(2)))
        return out

    def script(self) -> None:
        if self.ask("/status available") is None:
            return
        while not self.stop_event.is_set():
            for number, room_name in self.assigned():
                self.tally.outcomes["assigned"] += 1
                if not self.serve(number, room_name):
                    return
            if self.stop_event.is_set():
                break
            answer = self.ask("/take")
            if answer is None:
                return
            took = TOOK.match(answer)
            if took is None:
                self.tally.outcomes["nothing-to-take"] += 1
                self.pause(0.3, 0.8)
                continue
            self.tally.outcomes["took"] += 1
            number, room_name = int(took.group(1)), took.group(2)
            if not self.serve(number, room_name):
                return

    def serve(self, number: int, room_name: str) -> bool:
        # a group is named; a livechat room is linked by its rid
        room = self.person.server.room_by_name(room_name) or self.person.server.room(room_name)
        if room is not None:
            try:
                self.person.say(room["_id"], f"Hi, {self.person.username} here for #{number}.")
            except RocketChatError as exc:
                self.tally.errors.append(f"@{self.person.username} in #{number}: {exc}")
        self.pause(0.1, 0.4)
        if self.random.random() < self.requeue_share:
            # back to the queue now and then: someone else (or I) takes it again
            answer = self.ask(f"/requeue #{number} shift change")
            if answer is None:
                return False
            if answer.startswith(f"#{number} is back in the queue"):
                self.tally.outcomes["requeued"] += 1
            return True
        answer = self.ask(f"/hold #{number}")
        if answer is None:
            return False
        if answer.startswith(f"#{number} is on hold"):
            self.tally.outcomes["held"] += 1
            self.pause(0.1, 0.4)
            answer = self.ask(f"/resume #{number}")
            if answer is None:
                return False
            if answer.startswith(f"#{number} is resumed"):
                self.tally.outcomes["resumed"] += 1
        answer = self.ask(f'/close #{number} "done by the script" ')
        if answer is None:
            return False
        if answer.startswith(f"#{number} is closed"):
            self.tally.outcomes["closed"] += 1
        return True


class ContactScript(Script):
    """loop: ask the bot for help, write once in the room, wait until the chat is closed."""

    def __init__(self, *args: Any, wait_closed: float = 120.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wait_closed = wait_closed

    def script(self) -> None:
        rounds = 0
        while not self.stop_event.is_set():
            rounds += 1
            answer = self.ask(f"Hello, I need help ({self.person.username} round {rounds})")
            if answer is None:
                return
            got = OPENED.match(answer) or POINTED.match(answer)
            if got is None:
                self.tally.outcomes["unexpected-answer"] += 1
                self.tally.errors.append(f"@{self.person.username}: unexpected {answer!r}")
                return
            self.tally.outcomes["opened" if OPENED.match(answer) else "pointed"] += 1
            number, room_name = int(got.group(1)), got.group(2)
            room = self.person.server.room_by_name(room_name)
            self.pause(0.2, 1.0)
            if room is not None and not room.get("archived"):
                try:
                    self.person.say(room["_id"], f"More details for #{number}")
                except RocketChatError:
                    pass  # closed meanwhile (archived): fine
            if not self.wait_until_closed(number):
                return

    def wait_until_closed(self, number: int) -> bool:
        """Until the bot says #N is closed; keeps waiting after `stop` so the round completes
        (the agents finish theirs too), but gives up at `wait_closed`."""
        closed = f"Your conversation #{number} is closed."
        deadline = time.monotonic() + self.wait_closed
        state = self.person.server.state
        while time.monotonic() < deadline:
            with state.lock:
                msgs = list(state.messages.get(self.person.bot_dm, []))
            if any(
                m["u"].get("username") == BOT and str(m.get("msg", "")).startswith(closed)
                for m in msgs
            ):
                self.tally.outcomes["closed-seen"] += 1
                self.pause(0.1, 0.5)
                return True
            if self.stop_event.is_set():
                return False  # the agents stop too; an open chat at the end is fine
            time.sleep(0.2)
        return False


class Visitor:
    """A livechat visitor on the visitor REST (no account): the widget's calls."""

    def __init__(self, server: DevServer, name: str) -> None:
        import requests

        self.server = server
        self.name = name
        self.token = f"tok-{name}"
        self.base = server.url.rstrip("/") + "/api/v1/"
        self.http = requests.Session()
        body = {"visitor": {"token": self.token, "name": f"Visitor {name}"}}
        answer = self._call("post", "livechat/visitor", json=body)
        self.username = str(answer["visitor"]["username"])
        #: every room this visitor opened, oldest first
        self.rooms: list[str] = []

    def _call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        for attempt in range(20):
            try:
                response = getattr(self.http, method)(self.base + path, timeout=10, **kw)
                body: dict[str, Any] = response.json()
            except Exception:
                if attempt == 19:
                    raise
                time.sleep(0.5)
                continue
            if response.status_code == 200:
                return body
            raise RuntimeError(f"{path}: {body.get('error')}")
        raise AssertionError("unreachable")

    def open(self) -> str:
        rid = str(self._call("get", "livechat/room", params={"token": self.token})["room"]["_id"])
        if rid not in self.rooms:
            self.rooms.append(rid)
        return rid

    def say(self, rid: str, text: str) -> str:
        body = {"token": self.token, "rid": rid, "msg": text}
        return str(self._call("post", "livechat/message", json=body)["message"]["_id"])

    def close(self) -> None:
        self.http.close()


#: the bot's one answer to a visitor's first line (the queue position, or who serves)
TOLD_VISITOR = re.compile(r"^(Thanks! |All our agents are busy)")
HELPING = re.compile(r"^.+ is now helping you\.$")


class VisitorScript(threading.Thread):
    """loop: open a livechat room, write, write once more, wait until an agent closed it."""

    def __init__(
        self,
        visitor: Visitor,
        stop: threading.Event,
        *,
        reply_timeout: float,
        seed: int,
        wait_closed: float = 120.0,
    ) -> None:
        super().__init__(name=f"visitor-{visitor.name}", daemon=True)
        self.visitor = visitor
        self.stop_event = stop
        self.reply_timeout = reply_timeout
        self.wait_closed = wait_closed
        self.tally = Tally()
        self.random = random.Random(seed)

    def run(self) -> None:
        try:
            self.script()
        except Exception as exc:  # recorded; the test fails on it with the reason
            self.tally.errors.append(f"visitor {self.visitor.name}: {type(exc).__name__}: {exc}")

    def script(self) -> None:
        rounds = 0
        while not self.stop_event.is_set():
            rounds += 1
            rid = self.visitor.open()
            self.tally.lines["visitor-hello"] += 1
            self.visitor.say(rid, f"Hello, I need help ({self.visitor.name} round {rounds})")
            if not self._wait(functools.partial(self._told, rid), self.reply_timeout):
                self.tally.timeouts.append(f"visitor {self.visitor.name}: no answer in {rid}")
                return
            self.tally.outcomes["opened"] += 1
            self.stop_event.wait(self.random.uniform(0.2, 1.0))
            room = self.visitor.server.room(rid) or {}
            if room.get("open"):
                try:
                    self.visitor.say(rid, f"More details from {self.visitor.name}")
                except RuntimeError:
                    pass  # closed meanwhile: fine
            deadline = time.monotonic() + self.wait_closed
            while time.monotonic() < deadline:
                if not (self.visitor.server.room(rid) or {}).get("open"):
                    self.tally.outcomes["closed-seen"] += 1
                    break
                if self.stop_event.is_set():
                    return  # the agents stop too; an open chat at the end is fine
                time.sleep(0.2)
            else:
                return

    def _told(self, rid: str) -> bool:
        return any(
            TOLD_VISITOR.match(t) or HELPING.match(t) for t in bot_lines(self.visitor.server, rid)
        )

    @staticmethod
    def _wait(cond: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            time.sleep(0.1)
        return False


def bot_lines(server: DevServer, rid: str) -> list[str]:
    with server.state.lock:
        msgs = list(server.state.messages.get(rid, []))
    return [str(m.get("msg", "")) for m in msgs if m["u"].get("username") == BOT and not m.get("t")]


def visitor_answers(server: DevServer, visitor: Visitor) -> Answers:
    """Per livechat room the visitor opened: their first line got exactly one answer."""
    out = Answers()
    for rid in visitor.rooms:
        lines = bot_lines(server, rid)
        told = [t for t in lines if TOLD_VISITOR.match(t)]
        if not told:
            # routed at once: the catalogue's agent_joined was the answer (later ones follow
            # hand-overs, and answer nothing the visitor wrote)
            told = [t for t in lines if HELPING.match(t)][:1]
        out.lines += 1
        if not told:
            out.unanswered.append(f"visitor {visitor.name} in {rid}")
        elif len(told) == 1:
            out.answered_once += 1
        else:
            out.doubled.append((f"visitor {visitor.name} in {rid}", told))
        out.failed += [
            (f"visitor {visitor.name} in {rid}", t)
            for t in bot_lines(server, rid)
            if t.startswith("Something went wrong")
        ]
    return out


# --- reading the answers back from the server's log ------------------------------------------


@dataclass
class Answers:
    """Per person: lines they wrote to the bot and how many answers each got."""

    lines: int = 0
    answered_once: int = 0
    unanswered: list[str] = field(default_factory=list)
    doubled: list[tuple[str, list[str]]] = field(default_factory=list)
    #: answers that are the bot's internal-error line: something went wrong instead
    failed: list[tuple[str, str]] = field(default_factory=list)

    def add(self, other: Answers) -> None:
        self.lines += other.lines
        self.answered_once += other.answered_once
        self.unanswered += other.unanswered
        self.doubled += other.doubled
        self.failed += other.failed


def answers(server: DevServer, username: str, dm_rid: str) -> Answers:
    """Walk the DM: each line the person wrote must be followed by exactly one answer before
    their next line (the scripts wait for it). The last line may still be unanswered only if
    the caller does not wait; the tests wait for the bot to be idle first."""
    with server.state.lock:
        msgs = list(server.state.messages.get(dm_rid, []))
    out = Answers()
    current: str | None = None
    got: list[str] = []
    before = ""  # the line before and its answer: a late repeat usually belongs to it

    def settle() -> None:
        if current is None:
            return
        out.lines += 1
        if not got:
            out.unanswered.append(f"@{username}: {current}")
        elif len(got) == 1:
            out.answered_once += 1
        else:
            out.doubled.append((f"@{username}: {current} (after {before})", list(got)))

    for m in msgs:
        if m.get("t") or m.get("tmid"):
            continue  # system lines; a console thread's notes answer nothing typed here
        who = m["u"].get("username")
        text = str(m.get("msg", ""))
        if who == username:
            settle()
            if current is not None:
                before = f"{current!r} -> {got!r}"
            current, got = text, []
        elif who == BOT and current is not None and not is_notification(text):
            got.append(text)
            if text.startswith("Something went wrong"):
                out.failed.append((f"@{username}: {current}", text))
    settle()
    return out
