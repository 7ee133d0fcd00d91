"""Transcripts end to end: the dev server, the real bot, people typing, a real SMTP server.

Layout as in the workflow tests: alice in sales, bob and erin in support; maria is a
livechat-manager; carol, dave and zoe are contacts. E-mail goes to an `aiosmtpd` server on
loopback and is parsed back; PDFs are downloaded from the dev server and read with `pdftotext`.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from chat import Chat, ChatUser, wait_until

from bot.omnichannel import CONTACT, Conversation

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def config(smtp_port: int) -> dict[str, Any]:
    return {
        "site_name": "Acme Support",
        "departments": {
            "sales": {"agents": ["alice"]},
            "support": {"agents": ["bob", "erin"]},
        },
        "commands": {"rate_limit": {"count": 0}},
        "transcripts": {
            "email": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "from": "support@acme.test",
            }
        },
    }


@pytest.fixture
def desk(make_chat: Any, smtp: tuple[Inbox, int]) -> Chat:
    return make_chat(config=config(smtp[1]))


# --- helpers ------------------------------------------------------------------------------------
def open_and_take(chat: Chat, contact: str, dept: str, agent: str, text: str) -> Conversation:
    """`contact` asks in the DM, picks `dept`; `agent` takes it. The conversation, serving."""
    who = chat.user(agent)
    assert who.dm_bot("/status available") == "You are now available for chats."
    person = chat.user(contact)
    assert person.dm_bot(text).startswith("Hello! Which team can help you?")
    assert "Your conversation #" in person.dm_bot(dept)
    wf = chat.bot.workflow
    conv = wait_until(lambda: wf.repo.open_for_contact(contact), what="the conversation")
    assert who.dm_bot(f"/take #{conv.number}").startswith(f"You took #{conv.number}")
    return wf.repo.get(conv.number)


def room_of(chat: Chat, user: ChatUser, number: int) -> Any:
    return user.in_room(chat.bot.workflow.repo.get(number).rid)


def close(chat: Chat, agent: str, number: int, extra: str = "") -> None:
    room = room_of(chat, chat.user(agent), number)
    sent = room.say(f'/close "sorted out" {extra}'.strip())
    replies = chat.wait_bot_messages(room.rid, 2, after=sent.id)
    assert replies[-1].startswith(f"#{number} is closed."), replies
    wait_until(lambda: chat.bot.workflow.repo.get(number).state.value == "closed", what="closed")


def pdf_dms(chat: Chat, user: ChatUser) -> list[dict[str, Any]]:
    """The bot's file messages in `user`'s DM with it, oldest first."""
    return [
        m
        for m in chat.messages(user.bot_dm)
        if (m.get("u") or {}).get("username") == chat.bot_username and m.get("file")
    ]


def wait_pdf(chat: Chat, user: ChatUser, count: int = 1, timeout: float = 30.0) -> dict[str, Any]:
    got = wait_until(
        lambda: (lambda dms: dms if len(dms) >= count else None)(pdf_dms(chat, user)),
        timeout,
        f"{count} PDF(s) in @{user.username}'s DM",
    )
    return got[count - 1]


def download(user: ChatUser, message: dict[str, Any]) -> bytes:
    url = message["attachments"][0]["title_link"]
    return user.rest.download(url)


def dm_texts(chat: Chat, user: ChatUser) -> list[str]:
    return chat.bot_messages(user.bot_dm)


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "delivered.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def close_as(chat: Chat, number: int, by: str, closer: str, comment: str) -> None:
    """A close that no agent typed: the contact's or a timer's. They end in the workflow's
    one close path (commit, then `_finish_close` runs the close hooks), which is what this
    drives until the contact-close and timer modules call it themselves."""
    wf = chat.bot.workflow
    _before, (after, _event) = wf._transition(
        number, lambda conv: conv.close(by, wf.clock(), comment, closer=closer)
    )
    wf._finish_close(after, by)


# --- PDF by DM ----------------------------------------------------------------------------------
@needs_poppler
def test_close_with_pdf_delivers_the_file_by_dm(desk: Chat, tmp_path: Path) -> None:
    bob = desk.user("bob")
    conv = open_and_take(desk, "carol", "support", "bob", "My router blinks red")
    n = conv.number
    room = room_of(desk, bob, n)
    room.say("Hi Carol, please unplug it for ten seconds")
    carol_room = room_of(desk, desk.user("carol"), n)
    carol_room.say("Done — Привет, it works now")
    close(desk, "bob", n, "+pdf")

    dm = wait_pdf(desk, bob)
    stored = desk.bot.transcripts.repo.pdf(n)
    assert stored is not None
    assert dm["file"]["name"] == f"transcript-{n}.pdf"
    assert dm["msg"].startswith(f"Transcript of #{n} with Carol Contact, closed ")
    delivered = download(bob, dm)
    assert delivered == stored.data
    text = pdftotext(delivered, tmp_path)
    for said in (
        "My router blinks red",
        "Hi Carol, please unplug it for ten seconds",
        "Done — Привет, it works now",
        "Acme Support",
    ):
        assert said in text, said
    # bob's utcOffset is -5 in the seed: the PDF states it
    assert "UTC-05:00" in text
    rows = desk.bot.transcripts.repo.deliveries(n)
    assert [(r["kind"], r["requester"], r["ok"], r["trigger"]) for r in rows] == [
        ("pdf", "bob", True, "close")
    ]
    kinds = [e.kind for e in desk.store.events(n)]
    assert kinds[-1] == "transcript-delivered"
