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

from bot.domain import CONTACT, Conversation

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
    wf = chat.bot.services
    conv = wait_until(lambda: wf.repo.open_for_contact(contact), what="the conversation")
    assert who.dm_bot(f"/take #{conv.number}").startswith(f"You took #{conv.number}")
    return wf.repo.get(conv.number)


def room_of(chat: Chat, user: ChatUser, number: int) -> Any:
    return user.in_room(chat.bot.services.repo.get(number).rid)


def close(chat: Chat, agent: str, number: int, extra: str = "") -> None:
    room = room_of(chat, chat.user(agent), number)
    # the note and the answer, in the agent's console (the contact reads the room)
    replies = room.exchange(f'/close "sorted out" {extra}'.strip(), 2)
    assert replies[-1].startswith(f"#{number} is closed."), replies
    wait_until(lambda: chat.bot.services.repo.get(number).state.value == "closed", what="closed")


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


def png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


def logged(chat: Chat, n: int, count: int = 1) -> list[dict[str, Any]]:
    """The delivery log of #n once it has `count` rows (written just after the DM)."""
    repo = chat.bot.transcripts.repo
    return wait_until(
        lambda: (lambda rows: rows if len(rows) >= count else None)(repo.deliveries(n)),
        what=f"{count} delivery row(s) of #{n}",
    )


def dm_texts(chat: Chat, user: ChatUser) -> list[str]:
    return chat.bot_messages(user.bot_dm)


def top_level(chat: Chat, user: ChatUser) -> list[str]:
    """The bot's texts at the top level of `user`'s DM with it (console threads' roots left
    out: they name a conversation and hold nothing else)."""
    roots = chat.console_roots()
    return [
        str(m.get("msg", ""))
        for m in chat.messages(user.bot_dm)
        if (m.get("u") or {}).get("username") == chat.bot_username
        and not m.get("t")
        and not m.get("tmid")
        and m.get("_id") not in roots
    ]


def root_of(chat: Chat, username: str, number: int) -> str:
    """The root of `username`'s console thread for #number (issue 16)."""
    thread = chat.bot.services.console.repo.get(number, username)
    assert thread is not None, f"@{username} has no console thread for #{number}"
    return thread.root_id


def in_console(chat: Chat, username: str, number: int, start: str) -> list[str]:
    """Once there: the lines starting with `start` in `username`'s console thread for #number,
    none of them at the top level of the DM."""
    found = wait_until(
        lambda: [t for t in chat.console(username, number) if t.startswith(start)],
        30,
        f"{start!r} in @{username}'s thread for #{number}",
    )
    assert not [t for t in top_level(chat, chat.user(username)) if t.startswith(start)]
    return found


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "delivered.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def contact_closes(chat: Chat, number: int, line: str = "/close") -> None:
    """The contact types `/close` in the conversation room (the bot answers there; the note
    goes to the agents' console)."""
    contact = chat.user(chat.bot.services.repo.get(number).contact_username)
    room = room_of(chat, contact, number)
    sent = room.say(line)
    replies = chat.wait_bot_messages(room.rid, 1, after=sent.id)
    assert replies[-1] == f"#{number} is closed. Thank you for contacting us.", replies
    wait_until(lambda: chat.bot.services.repo.get(number).state.value == "closed", what="closed")


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
    carol = desk.user("carol")
    carol.rest.upload(carol_room.rid, png(), "router.png", "image/png", message="the lights")
    carol.rest.upload(carol_room.rid, b"model: X1\n", "router.txt", "text/plain")
    wait_until(
        lambda: len(desk.bot.services.messages.files(carol_room.rid)) == 2, what="files stored"
    )
    close(desk, "bob", n, "+pdf")

    dm = wait_pdf(desk, bob)
    # in bob's console thread for the chat (issue 16), not at the top level of his DM
    assert dm.get("tmid") == root_of(desk, "bob", n)
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
    assert "Attachment: router.txt (text/plain, 10 B)" in text
    assert "Attachment: router.png (image/png" in text
    # bob's utcOffset is -5 in the seed: the PDF states it
    assert "UTC-05:00" in text
    path = tmp_path / "delivered.pdf"
    images = subprocess.run(
        ["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert len(images) == 1 and " 40    30 " in images[0], images
    rows = logged(desk, n)
    assert [(r["kind"], r["requester"], r["ok"], r["trigger"]) for r in rows] == [
        ("pdf", "bob", True, "close")
    ]
    kinds = [e.kind for e in desk.store.events(n)]
    assert kinds[-1] == "transcript-delivered"


# --- permissions and states ---------------------------------------------------------------------
def test_open_conversation_is_refused_with_the_exact_text(desk: Chat) -> None:
    bob = desk.user("bob")
    conv = open_and_take(desk, "carol", "support", "bob", "Where is my parcel?")
    room = room_of(desk, bob, conv.number)
    assert room.command("/transcript pdf") == (
        "Close the conversation first; a transcript of an unfinished conversation can't be exported"
    )
    assert bob.dm_bot(f"/transcript pdf #{conv.number}") == (
        "Close the conversation first; a transcript of an unfinished conversation can't be exported"
    )
    assert desk.bot.transcripts.repo.pdf(conv.number) is None


def test_no_permission_and_other_department_are_refused(desk: Chat) -> None:
    bob, alice, maria = desk.user("bob"), desk.user("alice"), desk.user("maria")
    conv = open_and_take(desk, "carol", "support", "bob", "Refund please")
    n = conv.number
    close(desk, "bob", n)
    # a contact has neither transcript permission
    assert (
        desk.user("dave")
        .dm_bot(f"/transcript pdf #{n}")
        .startswith("/transcript is a command for support agents.")
    )
    # an agent may ask for PDFs but not send e-mails (send-omnichannel-chat-transcript)
    assert bob.dm_bot(f"/transcript email #{n} carol@example.test") == (
        "You don't have permission to send e-mail transcripts (send-omnichannel-chat-transcript)."
    )
    # alice is in sales and never served this support chat: to her it does not exist
    assert alice.dm_bot(f"/transcript pdf #{n}") == f"There is no conversation #{n}."
    assert pdf_dms(desk, alice) == []
    # a manager may; asked at the top level of her DM, it arrives in her thread for the chat
    assert maria.dm_bot(f"/transcript pdf #{n}") == (
        f"Preparing the PDF transcript of #{n}; it will arrive in our thread about #{n}."
    )
    assert wait_pdf(desk, maria).get("tmid") == root_of(desk, "maria", n)
    # asked in that thread: "here"
    asked = maria.rest.post_message(maria.bot_dm, "/transcript pdf", tmid=root_of(desk, "maria", n))
    assert maria.wait_reply(maria.bot_dm, asked.id) == (
        f"Preparing the PDF transcript of #{n}; it will arrive here."
    )
    assert wait_pdf(desk, maria, 2).get("tmid") == root_of(desk, "maria", n)


def test_repeated_requests_redeliver_the_same_file(desk: Chat) -> None:
    bob, maria = desk.user("bob"), desk.user("maria")
    conv = open_and_take(desk, "carol", "support", "bob", "Same file twice?")
    n = conv.number
    close(desk, "bob", n)
    assert bob.dm_bot(f"/transcript pdf #{n}") == (
        f"Preparing the PDF transcript of #{n}; it will arrive in our thread about #{n}."
    )
    first = download(bob, wait_pdf(desk, bob, 1))
    bob.dm_bot(f"/transcript pdf #{n}")
    second = download(bob, wait_pdf(desk, bob, 2))
    maria.dm_bot(f"/transcript pdf #{n}")
    third = download(maria, wait_pdf(desk, maria, 1))
    stored = desk.bot.transcripts.repo.pdf(n)
    assert stored is not None
    assert first == second == third == stored.data
    rows = logged(desk, n, 3)
    assert [(r["requester"], r["ok"]) for r in rows] == [
        ("bob", True),
        ("bob", True),
        ("maria", True),
    ]


# --- e-mail -------------------------------------------------------------------------------------
def parse_mail(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_email_now_for_a_closed_conversation(desk: Chat, smtp: tuple[Inbox, int]) -> None:
    inbox, _port = smtp
    maria = desk.user("maria")
    conv = open_and_take(desk, "carol", "support", "bob", "Invoice is wrong")
    n = conv.number
    room_of(desk, desk.user("bob"), n).say("I corrected the invoice")
    close(desk, "bob", n)
    answer = maria.dm_bot(f"/transcript email #{n} carol@example.test Your chat with Acme")
    assert answer == (
        f"Sending the transcript of #{n} to c***l@example.test; "
        "I'll tell you in our direct messages how it went."
    )
    wait_until(lambda: inbox.messages, 30, "the e-mail")
    rcpts, raw = inbox.messages[0]
    assert rcpts == ["carol@example.test"]
    mail = parse_mail(raw)
    assert mail["Subject"] == "Your chat with Acme"
    assert mail["From"] == "support@acme.test"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Invoice is wrong" in text and "I corrected the invoice" in text
    # only what the contact saw: no case events, no close comment, no command
    assert "Case events" not in text and "sorted out" not in text and "/close" not in text
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == f"transcript-{n}.pdf"
    stored = desk.bot.transcripts.repo.pdf(n)
    # the agents' stored PDF has the case events; the contact's is rendered from their view
    assert stored is not None and attachment.get_content() != stored.data
    # maria (staff) reads the agents' note in her thread for the chat; no second "E-mailed…"
    assert in_console(desk, "maria", n, "A transcript of #") == [
        f"A transcript of #{n} was e-mailed to c***l@example.test."
    ]
    desk.idle()
    assert not [t for t in dm_texts(desk, maria) if t.startswith("E-mailed")]
    rid = desk.bot.services.repo.get(n).rid
    carol = desk.user("carol")
    told = wait_until(
        lambda: [t for t in desk.bot_messages(carol.bot_dm) if "e-mailed" in t],
        what="the contact told (the catalogue's transcript_sent, in her DM: the room is archived)",
    )
    assert told == ["A transcript of this conversation was e-mailed to c***l@example.test."]
    wait_until(
        lambda: (
            f"A transcript of #{n} was e-mailed to c***l@example.test." in desk.console("bob", n)
        ),
        what="the agents' note",
    )
    assert not [t for t in desk.bot_messages(rid) if "e-mailed" in t]
    assert desk.server.state.room(rid).get("archived"), "the room stays archived"


def test_email_requested_while_open_is_sent_at_close(desk: Chat, smtp: tuple[Inbox, int]) -> None:
    inbox, _port = smtp
    maria = desk.user("maria")
    conv = open_and_take(desk, "carol", "support", "bob", "Please mail me this chat")
    n = conv.number
    assert maria.dm_bot(f"/transcript email #{n} c.smith@example.test") == (
        f"Noted: I'll e-mail the transcript of #{n} to c***h@example.test when the "
        "conversation closes."
    )
    assert maria.dm_bot(f"/transcript email #{n} not-an-address").startswith(
        "'not-an-address' is not an e-mail address."
    )
    assert inbox.messages == []
    close(desk, "bob", n)
    wait_until(lambda: inbox.messages, 30, "the e-mail at close")
    rcpts, raw = inbox.messages[0]
    assert rcpts == ["c.smith@example.test"]
    assert parse_mail(raw)["Subject"] == f"Transcript of #{n} with Carol Contact"
    assert in_console(desk, "maria", n, "A transcript of #") == [
        f"A transcript of #{n} was e-mailed to c***h@example.test."
    ]
    desk.idle()
    assert not [t for t in dm_texts(desk, maria) if t.startswith("E-mailed")]
    assert len(inbox.messages) == 1


def test_smtp_down_tells_the_agent_why(make_chat: Any) -> None:
    dead = free_port()  # nothing listens here
    desk = make_chat(
        config={
            **config(dead),
            "permissions": {
                "overrides": {
                    "send-omnichannel-chat-transcript": [
                        "admin",
                        "livechat-manager",
                        "livechat-agent",
                    ]
                }
            },
        }
    )
    bob = desk.user("bob")
    conv = open_and_take(desk, "carol", "support", "bob", "Mail it please")
    n = conv.number
    close(desk, "bob", n, "+email")  # carol's address is on the server
    failure = in_console(desk, "bob", n, "I couldn't deliver")
    assert failure[0].startswith(
        f"I couldn't deliver the transcript e-mail of #{n} to c***l@example.test: "
        f"cannot reach the mail server 127.0.0.1:{dead}"
    )
    assert not any(t.startswith("E-mailed") for t in dm_texts(desk, bob))
    rows = logged(desk, n)
    assert [(r["kind"], r["ok"]) for r in rows] == [("email", False)]
    assert [e.kind for e in desk.store.events(n)][-1] == "transcript-failed"


# --- preferences --------------------------------------------------------------------------------
def test_prefs_show_and_set(desk: Chat) -> None:
    bob = desk.user("bob")
    assert bob.dm_bot("/prefs") == "transcript-pdf: off, transcript-email: off."
    assert bob.dm_bot("/prefs transcript-pdf on").startswith("transcript-pdf is on")
    assert bob.dm_bot("/prefs transcript-email on") == (
        "You don't have permission to send e-mail transcripts (send-omnichannel-chat-transcript)."
    )
    assert bob.dm_bot("/prefs") == "transcript-pdf: on, transcript-email: off."


def check_delivered_by_preference(chat: Chat, agent: ChatUser, n: int) -> None:
    dm = wait_pdf(chat, agent)
    stored = chat.bot.transcripts.repo.pdf(n)
    assert stored is not None and download(agent, dm) == stored.data
    rows = logged(chat, n)
    assert [(r["requester"], r["trigger"], r["ok"]) for r in rows] == [
        (agent.username, "preference", True)
    ]


def test_preference_delivers_to_the_serving_agent_when_the_contact_closes(desk: Chat) -> None:
    bob = desk.user("bob")
    assert bob.dm_bot("/prefs transcript-pdf on").startswith("transcript-pdf is on")
    conv = open_and_take(desk, "carol", "support", "bob", "Thanks, all good")
    room_of(desk, bob, conv.number).say("Glad to help")
    contact_closes(desk, conv.number)
    assert desk.bot.services.repo.get(conv.number).closer == CONTACT
    check_delivered_by_preference(desk, bob, conv.number)


def test_preference_delivers_to_the_serving_agent_when_a_timer_closes(
    make_chat: Any, smtp: tuple[Inbox, int]
) -> None:
    desk = make_chat(config={**config(smtp[1]), "timers": {"on_hold_auto_close": "2s"}})
    bob = desk.user("bob")
    assert bob.dm_bot("/prefs transcript-pdf on").startswith("transcript-pdf is on")
    conv = open_and_take(desk, "carol", "support", "bob", "Back tomorrow")
    n = conv.number
    room = room_of(desk, bob, n)
    room.say("Sure, I'll keep it open")
    repo = desk.bot.services.repo
    wait_until(lambda: repo.get(n).metrics.last_agent_reply_at, what="bob's reply noted")
    assert room.exchange("/hold", 2)[-1].startswith(f"#{n} is on hold")
    wait_until(lambda: repo.get(n).state.value == "closed", 20, "the timer's close")
    assert repo.get(n).closer == "bot"
    check_delivered_by_preference(desk, bob, n)


# --- a long transcript never stalls commands ----------------------------------------------------
@needs_poppler
def test_ten_thousand_messages_do_not_stall_commands(
    desk: Chat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from bot.devserver.state import now, random_id
    from bot.services.transcripts import pdf_delivery

    bob, dave = desk.user("bob"), desk.user("dave")
    conv = open_and_take(desk, "carol", "support", "bob", "A very long story")
    n = conv.number
    rid = conv.rid
    state = desk.server.state
    carol = state.find_user("carol")
    start = now()
    with state.lock:  # straight into the server's history: the bot needn't see each one live
        history = state.messages.setdefault(rid, [])
        for i in range(10_000):
            history.append(
                {
                    "_id": random_id(),
                    "rid": rid,
                    "msg": f"line {i:05d} of the long story",
                    "ts": start,
                    "u": carol.ref,
                    "_updatedAt": start,
                }
            )

    rendering, release = threading.Event(), threading.Event()
    real_render = pdf_delivery.render_pdf

    def gated_render(data: Any, options: Any = None) -> bytes:
        # Hold the slow job inside generation until the other user's command was answered:
        # that proves commands run while a PDF is being made, with no clock involved.
        rendering.set()
        release.wait(60)
        return real_render(data, options)

    monkeypatch.setattr(pdf_delivery, "render_pdf", gated_render)
    close(desk, "bob", n, "+pdf")
    assert rendering.wait(60), "the PDF job never started"
    assert dave.dm_bot("/help").startswith("Commands you can use here:")
    assert pdf_dms(desk, bob) == []  # answered while the PDF was still being made
    release.set()
    dm = wait_pdf(desk, bob, timeout=120)
    text = pdftotext(download(bob, dm), tmp_path)
    assert "line 00000 of the long story" in text
    assert "line 09999 of the long story" in text
    assert text.index("line 04999") < text.index("line 05000")


# --- issue 17: a subject that would add headers; SMTP failures in one masked sentence ------
def test_a_subject_with_a_line_break_is_refused_before_sending(
    desk: Chat, smtp: tuple[Inbox, int]
) -> None:
    inbox, _port = smtp
    maria = desk.user("maria")
    n = open_and_take(desk, "carol", "support", "bob", "Invoice is wrong").number
    close(desk, "bob", n)
    answer = maria.dm_bot(
        f'/transcript email #{n} carol@example.test "Hi\r\nBcc: evil@example.test"'
    )
    assert answer == (
        "The subject must be one line of text: it contains a line break or a control character."
    )
    # Nothing was sent or queued: a good subject afterwards is the only mail.
    assert maria.dm_bot(f"/transcript email #{n} carol@example.test Hi").startswith(
        f"Sending the transcript of #{n} to c***l@example.test;"
    )
    wait_until(lambda: inbox.messages, 30, "the e-mail")
    assert [rcpts for rcpts, _raw in inbox.messages] == [["carol@example.test"]]
    assert b"evil@example.test" not in inbox.messages[0][1]
    assert not any("internal error" in text for text in dm_texts(desk, maria))


class Refusing(Inbox):
    """Refuses every recipient, quoting the address back as real servers do."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown."


@pytest.fixture
def refusing_desk(make_chat: Any) -> Iterator[Chat]:
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield make_chat(config=config(port))
    finally:
        controller.stop()


def test_smtp_refusal_is_one_sentence_with_the_address_masked_throughout(
    refusing_desk: Chat,
) -> None:
    desk = refusing_desk
    maria = desk.user("maria")
    n = open_and_take(desk, "carol", "support", "bob", "Mail me").number
    close(desk, "bob", n)
    answer = maria.dm_bot(f"/transcript email #{n} carol@example.test")
    assert answer.startswith(f"Sending the transcript of #{n} to c***l@example.test;")
    failure = in_console(desk, "maria", n, "I couldn't deliver")
    assert failure == [
        f"I couldn't deliver the transcript e-mail of #{n} to c***l@example.test: the mail "
        "server refused the address c***l@example.test."
    ]
    (row,) = logged(desk, n)
    assert row["target"] == "c***l@example.test" and "carol@" not in row["reason"]


def test_smtp_answer_ending_in_a_full_stop_gets_no_second_one(make_chat: Any) -> None:
    """A server's own sentence (here: 554 on DATA) is quoted without a doubled full stop."""

    class Rejecting(Inbox):
        async def handle_DATA(self, server, session, envelope):
            return f"554 5.7.1 Message to {envelope.rcpt_tos[0]} rejected as spam."

    port = free_port()
    controller = Controller(Rejecting(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        desk = make_chat(config=config(port))
        maria = desk.user("maria")
        n = open_and_take(desk, "carol", "support", "bob", "Mail me").number
        close(desk, "bob", n)
        maria.dm_bot(f"/transcript email #{n} carol@example.test")
        failure = in_console(desk, "maria", n, "I couldn't deliver")
    finally:
        controller.stop()
    assert failure == [
        f"I couldn't deliver the transcript e-mail of #{n} to c***l@example.test: the mail "
        f"server 127.0.0.1:{port} answered 554 5.7.1 Message to c***l@example.test rejected "
        "as spam."
    ]
