"""`omnicat demo`: the dev server, the bot and a scripted support session, in one command.

Everything runs on loopback in this process: the dev server on a free port, the bot logged in as
`omnicat` with a throwaway SQLite store, and seeded people typing over REST exactly as a
Rocket.Chat client would. After each line of the script, everything new in every room is printed
in the order the server stored it, so the output reads like the chat: a contact asks, the agent is
notified, takes the chat, answers, holds, the contact's reply resumes it, the agent forwards it to
another department, whose agent closes it and asks for a PDF transcript (saved to a file whose path
is printed). Then a website visitor writes through Rocket.Chat's livechat (the visitor REST API,
as the widget does): the livechat room is assigned to the bot, an agent takes it, forwards it to
another agent, who closes it with a PDF transcript too.
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import yaml

BOT = "omnicat"
WAIT = 10.0
#: the PDF is made off the event path; how long the script waits for it to arrive
PDF_WAIT = 5.0

#: The bot's configuration for the demo: one department served by bob; DM contacts go there.
DEMO_CONFIG: dict[str, Any] = {
    "departments": {
        "support": {"agents": ["bob"], "closing_tags": ["hardware", "account"]},
        "sales": {"agents": ["alice"], "routing": "auto", "closing_tags": ["hardware"]},
    },
    # Rocket.Chat gives `transfer-livechat-guest` to managers only; the demo lets agents
    # forward, as many teams configure it.
    "permissions": {
        "overrides": {
            "transfer-livechat-guest": [
                "admin",
                "livechat-manager",
                "livechat-monitor",
                "livechat-agent",
            ]
        }
    },
    "intake": {
        "dm": {"enabled": True, "department": "support"},
        # the seed's Rocket.Chat departments (bot/data/devserver-seed.yaml)
        "livechat": {
            "enabled": True,
            "departments": {"dep-support": "support", "dep-sales": "sales"},
        },
    },
    "commands": {"rate_limit": {"count": 0}},
    "log": {"level": "WARNING"},
}


class DemoFailed(Exception):
    """The bot did not do what the script waits for, in time."""


def seed() -> dict[str, Any]:
    """The packaged copy of `config/devserver-seed.yaml` (works from an installed wheel too)."""
    text = resources.files("bot").joinpath("data/devserver-seed.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _password(data: dict[str, Any], username: str) -> str:
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
            rest = self._make(self.server.url, username=name, password=_password(self.data, name))
            rest.login()
            self.people[name] = rest
        return self.people[name]

    def dm_rid(self, name: str) -> str:
        return str(self.person(name).dm_create(BOT).id)

    def say(self, who: str, rid: str, text: str, replies: int = 1) -> list[str]:
        """`who` posts `text` in `rid`; wait for `replies` bot messages there, then for the bot
        to be idle; print what happened everywhere."""
        sent = self.person(who).post_message(rid, text)
        got = _wait(lambda: self._bot_after(rid, sent.id, replies), WAIT)
        if got is None:
            self.printer.flush()
            raise DemoFailed(f"no reply from @{BOT} to {text!r} within {WAIT:.0f} s")
        self.bot.app.wait_idle(WAIT)
        self.printer.flush()
        time.sleep(self.pause)
        return got

    def dm(self, who: str, text: str, replies: int = 1) -> list[str]:
        return self.say(who, self.dm_rid(who), text, replies)

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


def play(s: Session, note: Callable[[str], None], pdf_dir: Path | None = None) -> Path | None:
    """The script. Returns where the PDF transcript was saved, if the bot sent one."""
    note("Alice, an agent, asks what she can do, then how one command works.")
    s.dm("alice", "/help")
    s.dm("alice", "/help take")

    note("Bob (support) and Alice (sales) say they are ready for chats.")
    s.dm("bob", "/status available")
    s.dm("alice", "/status available")

    note("Carol, a contact, writes to the bot. A conversation opens and bob is notified.")
    s.dm("carol", "Hi! My router blinks red since this morning.")
    services = s.bot.services
    conv = _wait(lambda: services.repo.open_for_contact("carol"), WAIT)
    if conv is None:
        raise DemoFailed("the bot opened no conversation for carol")
    n = conv.number
    if not _wait(lambda: _bot_said(s, s.dm_rid("bob"), f"New chat #{n}"), WAIT):
        raise DemoFailed("bob was not notified of the new chat")
    s.printer.flush()

    note("Bob looks at the queue and takes the chat; he joins its private room.")
    s.dm("bob", "/queue")
    s.dm("bob", f"/take {n}")
    room = _wait(lambda: services.repo.get(n).rid, WAIT)
    s.bot.app.wait_idle(WAIT)
    s.printer.flush()

    note("They talk in the conversation room; bob puts the chat on hold while he checks.")
    s.person("bob").post_message(room, "Hi Carol, I'm Bob. Could you unplug it for 30 seconds?")
    s.person("carol").post_message(room, "Done, it's still red.")
    s.bot.app.wait_idle(WAIT)
    s.printer.flush()
    s.person("bob").post_message(room, "Thanks, let me check the line on our side.")
    s.say("bob", room, "/hold", replies=2)

    note("Carol writes again: the chat resumes by itself.")
    s.say("carol", room, "It just turned green!", replies=1)

    note(
        "Carol would like a faster router: bob forwards the chat to sales, where alice takes over."
    )
    s.person("bob").post_message(room, "Great! For a faster model I'll pass you to sales.")
    s.say("bob", room, "/forward sales wants a faster router", replies=3)

    note("Alice answers, closes the chat with a comment and a tag, and asks for a PDF transcript.")
    s.person("alice").post_message(room, "Hi Carol, Alice from sales: I'll email you an offer.")
    s.say("alice", room, '/close "offer sent for a faster router" tags=hardware +pdf', replies=1)
    return _save_pdf(s, n, pdf_dir, "alice")


class Visitor:
    """A website visitor on Rocket.Chat's visitor REST API (no account, a token), as the
    livechat widget talks."""

    def __init__(self, server: Any, token: str, name: str, department: str) -> None:
        import requests

        self.base = server.url.rstrip("/") + "/api/v1/"
        self.token = token
        self.http = requests.Session()
        body = {"visitor": {"token": token, "name": name, "department": department}}
        self._ok(self.http.post(self.base + "livechat/visitor", json=body, timeout=WAIT))
        room = self._ok(
            self.http.get(self.base + "livechat/room", params={"token": token}, timeout=WAIT)
        )
        self.rid = str(room["room"]["_id"])

    @staticmethod
    def _ok(response: Any) -> dict[str, Any]:
        body: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise DemoFailed(f"the visitor API refused: {body.get('error')}")
        return body

    def say(self, text: str) -> None:
        body = {"token": self.token, "rid": self.rid, "msg": text}
        self._ok(self.http.post(self.base + "livechat/message", json=body, timeout=WAIT))

    def close(self) -> None:
        self.http.close()


def play_livechat(s: Session, note: Callable[[str], None], pdf_dir: Path | None) -> Path | None:
    """The livechat case: a visitor of the website writes, bob takes, forwards to alice, who
    closes with a PDF."""
    services = s.bot.services
    note(
        "Now Vera visits the website and writes in the livechat widget: Rocket.Chat assigns the "
        "room to the bot, which queues it for support like any other chat."
    )
    # As on a real server with the agents' web clients open: Rocket.Chat transfers a livechat
    # room only to a present agent. (The seed grants the bot `view-livechat-rooms`, which it
    # needs to get back into a room it forwarded to a human.)
    for agent in ("bob", "alice"):
        s.server.set_presence(agent, "online")
    vera = Visitor(s.server, "demo-vera", "Vera Visitor", "dep-support")
    try:
        vera.say("Hello, does the X200 router support Wi-Fi 6?")
        conv = _wait(lambda: services.queue.by_room(vera.rid), WAIT)
        if conv is None:
            raise DemoFailed("the bot opened no conversation for the livechat room")
        n = conv.number
        if not _wait(lambda: _bot_said(s, s.dm_rid("bob"), f"New chat #{n}"), WAIT):
            raise DemoFailed("bob was not notified of the livechat chat")
        s.bot.app.wait_idle(WAIT)
        s.printer.flush()

        note("Bob takes it: he is added to the livechat room and answers the visitor there.")
        s.dm("bob", f"/take {n}")
        s.person("bob").post_message(vera.rid, "Hi Vera, yes it does. Anything else?")
        vera.say("Great, I'd like a quote for 20 of them.")
        s.bot.app.wait_idle(WAIT)
        s.printer.flush()

        note("A quote is sales' job: bob forwards the chat to alice, which moves him out.")
        s.dm("bob", f"/forward #{n} @alice quote for 20 X200")
        s.person("alice").post_message(vera.rid, "Hi Vera, Alice from sales: quote on its way.")
        s.bot.app.wait_idle(WAIT)
        s.printer.flush()

        note("Alice closes it with a comment and a tag (the widget ends the chat) and a PDF.")
        s.dm("alice", f'/close #{n} "quote sent for 20 X200" tags=hardware +pdf')
        if not _wait(lambda: services.repo.get(n).state.value == "closed", WAIT):
            raise DemoFailed("the livechat chat did not close")
        return _save_pdf(s, n, pdf_dir, "alice")
    finally:
        vera.close()


def _bot_said(s: Session, rid: str, start: str) -> bool:
    return any(
        (m.get("u") or {}).get("username") == BOT and str(m.get("msg", "")).startswith(start)
        for m in s.server.messages(rid)
    )


def _save_pdf(s: Session, number: int, folder: Path | None, agent: str) -> Path | None:
    """Wait for the bot's PDF in the closing agent's DM and save it where the reader can
    open it."""
    rid = s.dm_rid(agent)

    def pdf() -> dict[str, Any] | None:
        for m in reversed(s.server.messages(rid)):
            f = m.get("file") or {}
            if str(f.get("name", "")).endswith(f"-{number}.pdf"):  # this chat's, not an older
                return m
        return None

    message = _wait(pdf, PDF_WAIT)
    s.bot.app.wait_idle(WAIT)
    s.printer.flush()
    if message is None:
        return None
    url = next(
        (a.get("title_link") for a in message.get("attachments") or [] if a.get("title_link")),
        None,
    )
    if not url:
        return None
    data = s.person(agent).download(url)
    folder = folder or Path(tempfile.mkdtemp(prefix="omnicat-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / message["file"]["name"]
    path.write_bytes(data)
    return path


def run_demo(
    out: TextIO | None = None, *, pause: float = 0.2, pdf_dir: str | Path | None = None
) -> int:
    """Play the script; 0 when the bot did everything the script waits for, 1 otherwise.

    The PDF transcript is saved in `pdf_dir` (default: a new temporary directory, kept).
    """
    from bot.config.load import parse_config
    from bot.devserver import DevServer
    from bot.runtime.root import Bot

    out = out or sys.stdout
    data = seed()
    server = DevServer(data, port=0).start()
    printer = Printer(server, out)
    bot: Bot | None = None
    session: Session | None = None
    with tempfile.TemporaryDirectory(prefix="omnicat-demo-store-") as tmp:
        try:
            raw = {
                "server": {"url": server.url, "username": BOT, "password": _password(data, BOT)},
                "store": {"url": f"sqlite:///{Path(tmp) / 'omnicat.db'}"},
                **DEMO_CONFIG,
            }
            config = parse_config(yaml.safe_dump(raw), "<demo>", env={})
            printer.note(f"Dev server on {server.url}; the bot logs in as @{BOT}.")
            bot = Bot(config).start()
            if not _wait(lambda: bot is not None and bot.ready, WAIT):
                printer.note("The bot did not come online in time.")
                return 1
            printer.flush_quietly()
            session = Session(server, bot, data, printer)
            session.pause = pause
            pdf = play(session, printer.note, Path(pdf_dir) if pdf_dir else None)
            if pdf is not None:
                printer.note(f"The PDF transcript is saved at {pdf}", wrap=False)
            else:
                printer.note("(No PDF transcript arrived: that part of the workflow is missing.)")
            live = play_livechat(
                session, printer.note, Path(pdf_dir) if pdf_dir else pdf_folder(pdf)
            )
            if live is not None:
                printer.note(f"The livechat PDF transcript is saved at {live}", wrap=False)
            else:
                printer.note("(No PDF transcript of the livechat chat arrived.)")
            printer.note("That's the demo. `omnicat devserver` + `omnicat run` to try it live.")
            return 0
        except DemoFailed as exc:
            printer.note(f"The demo stopped: {exc}")
            return 1
        finally:
            if session is not None:
                session.close()
            if bot is not None:
                bot.stop(timeout=10)
            server.stop()


def pdf_folder(pdf: Path | None) -> Path | None:
    return pdf.parent if pdf is not None else None


def _wait(cond: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(0.05)
