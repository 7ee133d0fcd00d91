"""`omnicat demo`: the dev server, the bot and a scripted session, in one command.

Everything runs on loopback in this process: the dev server on a free port, the bot logged in as
`omnicat` with a throwaway SQLite store, and a few seeded people typing over REST exactly as a
Rocket.Chat client would. The chat is printed as it happens. The script grows with the workflow
(queue → take → hold → resume → close → PDF).
"""

from __future__ import annotations

import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import yaml

BOT = "omnicat"
REPLY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Step:
    """One line of the script: `who` writes `text` in their DM with the bot."""

    who: str
    text: str
    expects_reply: bool = True
    note: str = ""


SCRIPT: tuple[Step, ...] = (
    Step("alice", "/help", note="Alice, an agent, asks what she can do."),
    Step("alice", "/help help", note="…and how one command works."),
    Step(
        "carol",
        "hello, I can't log in to my account",
        expects_reply=False,
        note="Carol, a contact, says hello. (Intake arrives with the workflow; "
        "for now the bot only takes note.)",
    ),
)


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


class Transcript:
    """Prints `[#dm alice] alice: /help` lines, continuation lines indented."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def line(self, room: str, author: str, text: str) -> None:
        head = f"[#{room}] {author}: "
        lines = text.splitlines() or [""]
        self.out.write(head + lines[0] + "\n")
        for rest in lines[1:]:
            self.out.write(" " * len(head) + rest + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.out.write(textwrap.fill(text, 100, initial_indent="# ", subsequent_indent="# ") + "\n")
        self.out.flush()


def run_demo(out: TextIO | None = None, *, pause: float = 0.3) -> int:
    """Play the script; 0 when every expected reply came, 1 otherwise. `pause` paces it."""
    from bot.config import parse_config
    from bot.devserver import DevServer
    from bot.rocketchat.rest import RestClient
    from bot.runtime import Bot

    out = out or sys.stdout
    show = Transcript(out)
    data = seed()
    server = DevServer(data, port=0).start()
    bot: Bot | None = None
    sessions: list[RestClient] = []
    with tempfile.TemporaryDirectory(prefix="omnicat-demo-") as tmp:
        try:
            config = parse_config(
                yaml.safe_dump(
                    {
                        "server": {
                            "url": server.url,
                            "username": BOT,
                            "password": _password(data, BOT),
                        },
                        "store": {"url": f"sqlite:///{Path(tmp) / 'omnicat.db'}"},
                        "log": {"level": "WARNING"},
                    }
                ),
                "<demo>",
                env={},
            )
            show.note(f"Dev server on {server.url}; the bot logs in as @{BOT}.")
            bot = Bot(config)
            bot.start()
            if not _wait(lambda: bot is not None and bot.ready, REPLY_TIMEOUT):
                show.note("The bot did not come online in time.")
                return 1
            people: dict[str, tuple[RestClient, str]] = {}
            for step in SCRIPT:
                if step.who not in people:
                    rest = RestClient(
                        server.url, username=step.who, password=_password(data, step.who)
                    )
                    rest.login()
                    sessions.append(rest)
                    people[step.who] = (rest, rest.dm_create(BOT).id)
                rest, rid = people[step.who]
                if step.note:
                    show.note(step.note)
                sent = rest.post_message(rid, step.text)
                show.line(f"dm {step.who}", step.who, step.text)
                if step.expects_reply:
                    replies = _wait(
                        lambda r=rid, a=sent.id: _bot_texts(server, r, a), REPLY_TIMEOUT
                    )
                    if not replies:
                        show.note(f"No reply from @{BOT} within {REPLY_TIMEOUT:.0f} s.")
                        return 1
                    for text in replies:
                        show.line(f"dm {step.who}", BOT, text)
                else:
                    assert bot.app is not None
                    bot.app.wait_idle(REPLY_TIMEOUT)
                time.sleep(pause)
            show.note("That's the demo. Run `omnicat devserver` and `omnicat run` to try it live.")
            return 0
        finally:
            for rest in sessions:
                rest.session.close()
            if bot is not None:
                bot.stop(timeout=10)
            server.stop()


def _bot_texts(server: Any, rid: str, after: str) -> list[str]:
    """The bot's messages in `rid` after message `after` (the dev server's own log)."""
    messages = server.messages(rid)
    ids = [m.get("_id") for m in messages]
    if after not in ids:
        return []
    return [
        str(m.get("msg", ""))
        for m in messages[ids.index(after) + 1 :]
        if (m.get("u") or {}).get("username") == BOT and not m.get("t")
    ]


def _wait(cond: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)
