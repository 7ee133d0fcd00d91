"""Transcript e-mails through a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.services.transcripts.email import (
    Smtp,
    TranscriptDeliveryError,
    build_transcript_email,
    send_email,
    transcript_text,
)
from bot.services.transcripts.model import TranscriptAttachment, TranscriptMessage
from bot.services.transcripts.pdf import render_pdf
from tests.test_transcript_helpers import START, conversation


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server_with_login():
    inbox = Inbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def data_with_everything():
    msgs = [
        TranscriptMessage(START, "maria", "Привет, где мой заказ?", display_name="Maria Ivanova"),
        TranscriptMessage(START, "alice", "Checking now", edited=True, quote="где мой заказ?"),
        TranscriptMessage(
            START,
            "maria",
            "photo",
            attachments=[TranscriptAttachment("a.zip", "application/zip", 10)],
        ),
    ]
    return conversation(messages=msgs, tz=9)


def test_email_carries_body_and_pdf_to_the_recipient(smtp_server):
    inbox, port = smtp_server
    data = data_with_everything()
    pdf = render_pdf(data)
    msg = build_transcript_email(
        data, pdf, sender="bot@shop.example", recipient="maria@example.org", subject="Your chat #42"
    )
    send_email(msg, Smtp("127.0.0.1", port, security="none"))

    assert len(inbox.envelopes) == 1
    envelope = inbox.envelopes[0]
    assert envelope.rcpt_tos == ["maria@example.org"]
    assert envelope.mail_from == "bot@shop.example"
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received["Subject"] == "Your chat #42"
    assert received["To"] == "maria@example.org"
    body = received.get_body(("plain",)).get_content()
    assert "[21:00] Maria Ivanova (@maria)" in body  # 12:00 UTC shown at UTC+9
    assert "Привет, где мой заказ?" in body
    assert "(edited)" in body and "> где мой заказ?" in body
    assert "Attachment: a.zip (application/zip, 10 B)" in body
    (attachment,) = list(received.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "transcript-42.pdf"
    assert attachment.get_content() == pdf


def test_login_is_used_when_configured(smtp_server_with_login):
    inbox, port = smtp_server_with_login
    data = conversation(("maria", "hi"))
    msg = build_transcript_email(
        data, b"%PDF-1.3", sender="b@x.example", recipient="m@x.example", subject="s"
    )
    send_email(msg, Smtp("127.0.0.1", port, security="none", username="bot", password="s3cret"))
    assert len(inbox.envelopes) == 1
    with pytest.raises(TranscriptDeliveryError, match="refused our login"):
        send_email(msg, Smtp("127.0.0.1", port, security="none", username="bot", password="nope"))


def test_smtp_down_is_a_delivery_error_with_a_reason():
    data = conversation(("maria", "hi"))
    msg = build_transcript_email(
        data, b"%PDF-1.3", sender="b@x.example", recipient="m@x.example", subject="s"
    )
    port = free_port()  # nothing listens there
    with pytest.raises(TranscriptDeliveryError) as caught:
        send_email(msg, Smtp("127.0.0.1", port, security="none", timeout=5))
    assert f"127.0.0.1:{port}" in caught.value.reason
    assert "cannot reach" in caught.value.reason


def test_refused_recipient_is_not_reported_as_sent(smtp_server):
    inbox, port = smtp_server
    data = conversation(("maria", "hi"))
    msg = build_transcript_email(
        data, b"%PDF-1.3", sender="b@x.example", recipient="nobody@refused.example", subject="s"
    )
    with pytest.raises(TranscriptDeliveryError, match="refused the address"):
        send_email(msg, Smtp("127.0.0.1", port, security="none"))
    assert inbox.envelopes == []


def test_starttls_against_a_server_without_it_says_so(smtp_server):
    _, port = smtp_server
    msg = build_transcript_email(
        conversation(("maria", "hi")),
        b"%PDF",
        sender="b@x.example",
        recipient="m@x.example",
        subject="s",
    )
    with pytest.raises(TranscriptDeliveryError, match="does not support"):
        send_email(msg, Smtp("127.0.0.1", port, security="starttls"))


def test_unconfigured_host_is_a_delivery_error():
    msg = build_transcript_email(
        conversation(("maria", "hi")),
        b"%PDF",
        sender="b@x.example",
        recipient="m@x.example",
        subject="s",
    )
    with pytest.raises(TranscriptDeliveryError, match="not configured"):
        send_email(msg, Smtp(None))


def test_plain_text_lists_every_message_in_order():
    data = conversation(("maria", "one"), ("alice", "two\nlines"), ("maria", "three"))
    text = transcript_text(data)
    assert text.index("one") < text.index("two") < text.index("    lines") < text.index("three")
    assert "Times in: UTC+00:00" in text


def test_a_subject_is_one_header_line_whatever_it_holds(smtp_server):
    """A subject stored before validation existed (a resumed request) or a contact name with a
    line break in the configured subject cannot add headers: it is folded into one line."""
    inbox, port = smtp_server
    data = data_with_everything()
    msg = build_transcript_email(
        data,
        b"%PDF",
        sender="bot@shop.example",
        recipient="maria@example.org",
        subject="Hi\r\nBcc: evil@example.test",
    )
    send_email(msg, Smtp("127.0.0.1", port, security="none"))
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["maria@example.org"]
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert received["Subject"] == "Hi Bcc: evil@example.test"
    assert received["Bcc"] is None


@pytest.mark.parametrize(
    "subject, ok",
    [
        ("Your chat with us", True),
        ("Ваш чат — مرحبا 👋", True),
        ("Hi\r\nBcc: x@y.z", False),
        ("Hi\nthere", False),
        ("tab\there", False),
        ("line\u2028separator", False),
        ("x" * 201, False),
    ],
)
def test_subject_problem(subject, ok):
    from bot.services.transcripts.email import subject_problem

    assert (subject_problem(subject) is None) is ok
