"""Transcript delivery on the in-memory FakeChat with the real workflow and a real SQLite store:
who gets what at close, the stored PDF, the collected history, and failures told by DM."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from desk import build
from fakes import BASE_TIME, FakeChat

from bot.chat.errors import ServerError
from bot.chat.types import Attachment, FileInfo, User
from bot.config.load import parse_config
from bot.domain import CONTACT, Conversation, Refused
from bot.services.transcripts import pdf_delivery
from bot.services.transcripts.collect import Collector, requester_timezone
from bot.services.transcripts.email import mask_address, valid_address
from bot.services.transcripts.jobs import run_inline
from bot.services.transcripts.model import TranscriptData
from bot.services.transcripts.pdf import TranscriptRenderError
from bot.services.transcripts.pdf_delivery import closed_line
from bot.store import Store
from bot.store.transcripts import Job, Prefs


class Desk:
    """App + the services + transcripts on a FakeChat; slow jobs run inline (deterministic)."""

    def __init__(self, tmp_path: Path) -> None:
        data = {
            "server": {"url": "http://127.0.0.1:9", "username": "omnicat", "password": "x"},
            "departments": {"support": {"agents": ["bob"]}, "sales": {"agents": ["alice"]}},
            "transcripts": {
                "timezone": "Europe/Berlin",
                "email": {"host": "127.0.0.1", "port": 9, "security": "none", "from": "a@b.cd"},
            },
        }
        self.config = parse_config(yaml.safe_dump(data), "<test>", env={})
        self.chat = FakeChat()
        self.chat.add_user("bob", "user", "livechat-agent", name="Bob Agent")
        self.chat.add_user("alice", "user", "livechat-agent")
        self.chat.add_user("maria", "user", "livechat-manager")
        self.chat.add_user("carol", "user", name="Carol Contact")
        self.store = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
        parts = build(
            store=self.store, config=self.config, chat=self.chat, transcripts=True, live=False
        )
        self.app, self.wf = parts.app, parts.services
        assert parts.transcripts is not None
        self.service = parts.transcripts
        self.service.run_slow = run_inline  # the app's pool, made synchronous here

    def conversation(self, *, agent: str = "bob", closed: bool = True) -> Conversation:
        wf = self.wf
        room = self.chat.create_group("omni-1-carol", ["carol"])
        conv, _ = wf.repo.create(
            "carol", BASE_TIME, by="carol", department="support", contact_name="Carol Contact"
        )
        wf.repo.attach_room(conv.number, room.id)
        wf.repo.transition(conv.number, lambda c: c.take(agent, BASE_TIME + timedelta(minutes=1)))
        self.chat.say("carol", room.id, "my router blinks", ts=BASE_TIME + timedelta(minutes=2))
        if closed:
            self.close(conv.number, by=agent)
        got = wf.repo.get(conv.number)
        assert got is not None
        return got

    def close(self, number: int, *, by: str, closer: str = "agent", pdf: bool = False) -> None:
        at = BASE_TIME + timedelta(minutes=10)
        self.wf.repo.transition(number, lambda c: c.close(by, at, "done", closer=closer, pdf=pdf))

    def dms(self, username: str) -> list[str]:
        """What the bot said at the top level of `username`'s DM with it (no thread)."""
        rid = self.chat.dm_room(username)
        return [
            e.text or ""
            for e in self.chat.effects
            if e.rid == rid and e.kind in ("dm", "send") and not e.data.get("tmid")
        ]

    def root(self, username: str, number: int) -> str:
        thread = self.wf.console.repo.get(number, username)
        assert thread is not None, f"@{username} has no console thread for #{number}"
        return thread.root_id

    def thread(self, username: str, number: int) -> list[str]:
        """What the bot said in `username`'s console thread for #number (issue 16)."""
        root = self.root(username, number)
        return [
            e.text or ""
            for e in self.chat.effects
            if e.kind == "send" and e.data.get("tmid") == root
        ]

    def uploads(self, username: str) -> list[Any]:
        rid = self.chat.dm_room(username)
        return [e for e in self.chat.effects if e.rid == rid and e.kind == "upload"]


@pytest.fixture
def desk(tmp_path: Path) -> Any:
    d = Desk(tmp_path)
    yield d
    d.app.stop(5)
    d.store.close()


# --- small pure pieces --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("maria@example.com", "m***a@example.com"),
        ("mi@example.com", "m***@example.com"),
        ("x@example.com", "x***@example.com"),
        ("no-at-sign", "***"),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_valid_address() -> None:
    assert valid_address("maria@example.com")
    assert not valid_address("maria@example")
    assert not valid_address("maria example@x.com")
    assert not valid_address("<maria@example.com>")


def test_closed_line_is_in_the_requesters_time() -> None:
    conv = Conversation(
        number=42,
        contact_username="maria",
        contact_name="Maria Ivanova",
        created_at=BASE_TIME,
        closed_at=BASE_TIME.replace(month=3, day=14, hour=14, minute=20),
    )
    at_plus3 = TranscriptData(number=42, timezone=3.0)
    assert (
        closed_line(conv, at_plus3)
        == "Transcript of #42 with Maria Ivanova, closed 14 Mar 2026 17:20"
    )


def test_requester_timezone_prefers_the_server_offset() -> None:
    assert requester_timezone(User("u", "bob", utc_offset=5.5), "UTC") == 5.5
    assert requester_timezone(User("u", "bob"), "Europe/Berlin") == "Europe/Berlin"
    assert requester_timezone(None, "") == "UTC"


# --- the store ----------------------------------------------------------------------------------
def test_one_pdf_per_conversation_the_first_wins(desk: Any) -> None:
    repo = desk.service.repo
    first = repo.save_pdf(7, b"%PDF-first", "transcript-7.pdf", "UTC", "bob")
    second = repo.save_pdf(7, b"%PDF-second", "transcript-7.pdf", "UTC+09:00", "alice")
    assert first.data == second.data == b"%PDF-first"
    assert repo.pdf(7).sha256 == first.sha256


def test_prefs_and_pending_requests(desk: Any) -> None:
    repo = desk.service.repo
    assert repo.prefs("bob") == Prefs(False, False)
    assert repo.set_prefs("bob", pdf=True) == Prefs(True, False)
    assert repo.set_prefs("bob", email=True) == Prefs(True, True)
    repo.add_request(3, "email", "maria", "c@x.io", "Hi")
    wishes = repo.wishes(3)
    assert [r.address for r in wishes] == ["c@x.io"]
    assert repo.record_plan(3, [], wishes) == []  # the close's plan takes them
    assert repo.wishes(3) == []  # taken once: a second close hook cannot resend


# --- who gets what at close ---------------------------------------------------------------------
def test_close_flag_and_preference_of_the_same_agent_make_one_delivery(desk: Any) -> None:
    desk.service.repo.set_prefs("bob", pdf=True)
    conv = desk.conversation(closed=False)
    desk.close(conv.number, by="bob", pdf=True)
    closed = desk.wf.repo.get(conv.number)
    jobs = desk.service.jobs_for_close(closed, "bob")
    assert jobs == [Job("pdf", conv.number, "bob", "close")]


def test_contact_close_delivers_to_the_serving_agent_by_preference(desk: Any) -> None:
    desk.service.repo.set_prefs("bob", pdf=True, email=True)
    conv = desk.conversation(closed=False)
    desk.close(conv.number, by="carol", closer=CONTACT)
    closed = desk.wf.repo.get(conv.number)
    jobs = desk.service.jobs_for_close(closed, "carol")
    # the contact has no e-mail on file here: the e-mail job carries no address, and its
    # delivery tells bob why instead of pretending
    assert jobs == [
        Job("pdf", conv.number, "bob", "preference"),
        Job("email", conv.number, "bob", "preference", ""),
    ]
    desk.service.on_closed(closed, "carol")
    assert len(desk.uploads("bob")) == 1
    # bob is staff: he reads both in his console thread for the chat, none at the top level
    assert desk.thread("bob", conv.number) == [
        f"I couldn't deliver the transcript e-mail of #{conv.number}: "
        "I don't know @carol's e-mail address."
    ]
    assert desk.dms("bob") == []
    assert desk.dms("carol") == []


def test_no_preferences_no_flags_nothing_happens(desk: Any) -> None:
    conv = desk.conversation()
    assert desk.service.jobs_for_close(conv, "bob") == []


# --- delivery -----------------------------------------------------------------------------------
def test_pdf_job_uploads_to_the_dm_with_the_short_line(desk: Any) -> None:
    conv = desk.conversation()
    assert desk.service.deliver(Job("pdf", conv.number, "bob", "command"))
    (upload,) = desk.uploads("bob")
    assert upload.data["tmid"] == desk.root("bob", conv.number)  # in bob's console thread
    # no utcOffset for bob in the fake: transcripts.timezone (Berlin, UTC+1 in January)
    assert (
        upload.text == f"Transcript of #{conv.number} with Carol Contact, closed 5 Jan 2026 10:10"
    )
    assert upload.data["filename"] == f"transcript-{conv.number}.pdf"
    assert upload.data["mime"] == "application/pdf"
    row = desk.service.repo.deliveries(conv.number)[-1]
    assert (row["ok"], row["trigger"]) == (True, "command")


def test_a_contact_asking_for_their_own_pdf_gets_it_at_the_top_level_of_their_dm(
    desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A console thread is staff's (its root quotes the contact): the contact reads the upload
    and a failure at the top level of their DM with the bot."""
    conv = desk.conversation()
    assert desk.service.deliver(Job("pdf", conv.number, "carol", "command"))
    (upload,) = desk.uploads("carol")
    assert upload.data["tmid"] is None
    assert desk.wf.console.repo.get(conv.number, "carol") is None

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ServerError("rooms.media: file too large")

    monkeypatch.setattr(desk.chat, "upload", refuse)
    assert not desk.service.deliver(Job("pdf", conv.number, "carol", "command"))
    (told,) = desk.dms("carol")
    assert told.startswith(f"I couldn't deliver the PDF transcript of #{conv.number}: uploading")
    assert desk.wf.console.repo.get(conv.number, "carol") is None


def test_upload_failure_is_told_never_claimed(desk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conv = desk.conversation()

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ServerError("rooms.media: file too large")

    monkeypatch.setattr(desk.chat, "upload", refuse)
    assert not desk.service.deliver(Job("pdf", conv.number, "bob", "command"))
    assert desk.dms("bob") == []
    (told,) = desk.thread("bob", conv.number)
    assert told.startswith(f"I couldn't deliver the PDF transcript of #{conv.number}: uploading")
    assert "file too large" in told
    row = desk.service.repo.deliveries(conv.number)[-1]
    assert row["ok"] is False and "file too large" in row["reason"]
    assert [e.kind for e in desk.store.events(conv.number)][-1] == "transcript-failed"


def test_render_failure_is_told(desk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conv = desk.conversation()

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise TranscriptRenderError("no usable font")

    monkeypatch.setattr(pdf_delivery, "render_pdf", broken)
    assert not desk.service.deliver(Job("pdf", conv.number, "bob", "command"))
    assert desk.dms("bob") == []
    assert desk.thread("bob", conv.number) == [
        f"I couldn't deliver the PDF transcript of #{conv.number}: "
        "the PDF could not be made (no usable font)."
    ]
    assert desk.uploads("bob") == []
    assert desk.service.repo.pdf(conv.number) is None  # nothing half-made is kept


def test_a_bug_still_ends_in_a_line_to_the_requester(
    desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = desk.conversation()
    monkeypatch.setattr(desk.service, "pdf_of", lambda *a, **k: 1 / 0)
    assert not desk.service.deliver(Job("pdf", conv.number, "bob", "command"))
    assert desk.dms("bob") == []
    assert desk.thread("bob", conv.number) == [
        f"I couldn't deliver the PDF transcript of #{conv.number}: "
        "an internal error (ZeroDivisionError)."
    ]


# --- what the transcript holds ------------------------------------------------------------------
def test_collect_marks_notes_drops_server_lines_keeps_quotes_edits_and_files(desk: Any) -> None:
    conv = desk.conversation()
    chat, rid = desk.chat, conv.rid
    at = BASE_TIME + timedelta(minutes=3)
    note = chat.send(rid, "@bob joined")
    desk.wf.messages.upsert(dataclasses.replace(note, type="uj"), conv.number)
    chat.say("bob", rid, "", type="uj", ts=at)  # the server's own "joined" line
    quoted = chat.say("bob", rid, "see above", ts=at + timedelta(seconds=1))
    chat.messages[rid][-1] = dataclasses.replace(
        quoted,
        attachments=(Attachment(text="my router blinks", author_name="carol", message_link="x"),),
        edited_at=at + timedelta(seconds=5),
    )
    photo = chat.say("carol", rid, "photo", ts=at + timedelta(seconds=2))
    chat.messages[rid][-1] = dataclasses.replace(
        photo,
        files=(FileInfo(id="f1", name="a.png", type="image/png", size=10),),
        attachments=(Attachment(title="a.png", title_link="/file-upload/f1/a.png", type="file"),),
    )
    data = Collector(chat, desk.wf.messages).collect(conv, timezone="UTC")
    by_text = {m.text: m for m in data.messages}
    assert "" not in by_text  # the server's system line is not in the transcript
    assert by_text["@bob joined"].system == "uj"
    assert by_text["my router blinks"].system is None
    assert by_text["see above"].quote == "my router blinks"
    assert by_text["see above"].quote_author == "carol"
    assert by_text["see above"].edited
    (att,) = by_text["photo"].attachments
    # FakeChat cannot download: the image is listed, not lost
    assert (att.name, att.mime_type, att.size, att.data) == ("a.png", "image/png", 10, None)


def test_collect_falls_back_to_the_stored_copy(desk: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    conv = desk.conversation()
    for m in desk.chat.messages[conv.rid]:
        desk.wf.messages.upsert(m, conv.number)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ServerError("history: 502")

    monkeypatch.setattr(desk.chat, "history", down)
    data = Collector(desk.chat, desk.wf.messages).collect(conv)
    assert [m.text for m in data.messages] == ["my router blinks"]


def test_email_recorded_while_open_goes_out_once_at_close(desk: Any) -> None:
    maria = desk.chat.users["maria"]
    conv = desk.conversation(closed=False)
    assert desk.service.prepare_email(maria, conv.number, "c@x.io", "Your chat") is None
    assert desk.wf.repo.get(conv.number).transcript_email == "c@x.io"
    desk.close(conv.number, by="bob")
    closed = desk.wf.repo.get(conv.number)
    assert desk.service.jobs_for_close(closed, "bob") == [
        Job("email", conv.number, "maria", "command", "c@x.io", "Your chat")
    ]
    assert desk.service.jobs_for_close(closed, "bob") == []  # a second hook sends nothing


def test_email_closed_between_record_and_flag_is_sent_exactly_once(
    desk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    maria = desk.chat.users["maria"]
    conv = desk.conversation(closed=False)
    real = desk.wf.repo.transition

    def close_first(number: int, decide: Any, **kw: Any) -> Any:
        at = BASE_TIME + timedelta(minutes=10)
        real(number, lambda c: c.close("bob", at, "done"))  # lands between the two steps
        return real(number, decide, **kw)

    monkeypatch.setattr(desk.wf.repo, "transition", close_first)
    job = desk.service.prepare_email(maria, conv.number, "c@x.io")
    assert job == Job("email", conv.number, "maria", "command", "c@x.io", None)
    closed = desk.wf.repo.get(conv.number)
    assert desk.service.jobs_for_close(closed, "bob") == []


def test_email_refusals(desk: Any) -> None:
    bob, maria = desk.chat.users["bob"], desk.chat.users["maria"]
    conv = desk.conversation()
    with pytest.raises(Refused, match="send-omnichannel-chat-transcript"):
        desk.service.prepare_email(bob, conv.number, "c@x.io")
    with pytest.raises(Refused, match="is not an e-mail address"):
        desk.service.prepare_email(maria, conv.number, "c@x")


def test_access_is_checked_before_the_state(desk: Any) -> None:
    """Another department's agent learns nothing, not even whether the chat is closed."""
    alice = desk.chat.users["alice"]  # sales; the chat is support's and still open
    conv = desk.conversation(closed=False)
    with pytest.raises(Refused, match="You didn't serve conversation"):
        desk.service.prepare_pdf(alice, conv.number)
