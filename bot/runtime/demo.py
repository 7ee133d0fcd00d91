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
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.runtime.demo_script import pdf_folder, play, play_livechat
from bot.runtime.demo_stage import (
    BOT,
    WAIT,
    DemoFailed,
    Printer,
    Session,
    password_of,
    seed,
    wait_for,
)

__all__ = ["DEMO_CONFIG", "run_demo", "seed"]


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
                "server": {"url": server.url, "username": BOT, "password": password_of(data, BOT)},
                "store": {"url": f"sqlite:///{Path(tmp) / 'omnicat.db'}"},
                **DEMO_CONFIG,
            }
            config = parse_config(yaml.safe_dump(raw), "<demo>", env={})
            printer.note(f"Dev server on {server.url}; the bot logs in as @{BOT}.")
            bot = Bot(config).start()
            if not wait_for(lambda: bot is not None and bot.ready, WAIT):
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
