"""Transcripts by e-mail: a plain-text body of the conversation plus the PDF attached."""

from __future__ import annotations

import re
import smtplib
import ssl
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal, Protocol

from bot.domain.emailaddr import is_email

from .model import TranscriptData
from .sections import attachment_line, header_lines, quote_line, title_line


class TranscriptDeliveryError(Exception):
    """A transcript could not be delivered; `reason` is fit to show the requester."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SmtpSettings(Protocol):
    """What `send_email` reads; `bot.config.schema.Email` fits (its `from` is `from_`)."""

    host: str | None
    port: int
    security: Literal["starttls", "ssl", "none"]
    username: str | None
    password: str | None


@dataclass(frozen=True)
class Smtp:
    """Stand-alone SMTP settings, for callers without the config object (and tests)."""

    host: str | None
    port: int = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0


MAX_SUBJECT = 200  # characters; mail headers fold long lines, but nobody reads more


def subject_problem(subject: str) -> str | None:
    """Why `subject` cannot be a mail subject (a line break would let it add headers, such as
    a `Bcc:`), or None when it can."""
    if any(unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029" for ch in subject):
        return (
            "The subject must be one line of text: it contains a line break or a control character."
        )
    if len(subject) > MAX_SUBJECT:
        return f"The subject is longer than {MAX_SUBJECT} characters."
    return None


def one_line(text: str) -> str:
    """Control characters and line breaks folded into single spaces (a header, a chat line)."""
    return _BREAKS.sub(" ", text).strip()


_BREAKS = re.compile("[\x00-\x1f\x7f\u2028\u2029]+")


def mask_address(address: str) -> str:
    """`maria@example.com` → `m***a@example.com`: the room sees that mail went out, not where."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    shown = local[:1] + "***" if len(local) <= 2 else f"{local[0]}***{local[-1]}"
    return f"{shown}@{domain}"


def valid_address(address: str) -> bool:
    return is_email(address)


def chat_reason(reason: str, address: str | None, masked: str | None) -> str:
    """A delivery failure's reason for a chat line: one line, the address written `masked` as
    everywhere else (the mail server may quote it back), and no full stop of its own (the
    sentence around it ends with one)."""
    text = one_line(reason)
    if address and masked:
        text = re.sub(re.escape(address), masked, text, flags=re.IGNORECASE)
    return text.rstrip(" .")


def transcript_text(data: TranscriptData) -> str:
    """The conversation as plain text, same content and order as the PDF."""
    lines = [title_line(data), ""]
    lines += [f"{label}: {value}" for label, value in header_lines(data)]
    lines.append("")
    last_day = None
    for msg in data.messages:
        local = data.local(msg.ts)
        if local.date() != last_day:
            last_day = local.date()
            lines += ["", local.strftime("%A, %d %B %Y"), ""]
        marks = "".join(
            mark
            for mark, on in ((" (edited)", msg.edited), (" (thread reply)", bool(msg.tmid)))
            if on
        )
        lines.append(f"[{local:%H:%M}] {msg.author}{marks}")
        quote = quote_line(msg)
        if quote:
            lines.append(f"    {quote}")
        for text_line in msg.text.splitlines():
            lines.append(f"    {text_line}")
        lines += [f"    {attachment_line(att)}" for att in msg.attachments]
    if data.events:
        lines += ["", "Case events", ""]
        lines += [f"[{data.local(e.at):%Y-%m-%d %H:%M}] {e.text}" for e in data.events]
    return "\n".join(lines) + "\n"


def pdf_filename(data: TranscriptData) -> str:
    return f"transcript-{data.number}.pdf"


def build_transcript_email(
    data: TranscriptData, pdf_bytes: bytes, *, sender: str, recipient: str, subject: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = one_line(subject)  # a header line: a line break would add headers
    msg["Date"] = formatdate(localtime=False)
    domain = sender.rpartition("@")[2].strip("> ") or None
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(transcript_text(data))
    msg.add_attachment(
        pdf_bytes, maintype="application", subtype="pdf", filename=pdf_filename(data)
    )
    return msg


def send_email(msg: EmailMessage, settings: SmtpSettings) -> None:
    """Hand `msg` to the SMTP server. Blocking: call from a worker thread.

    Raises TranscriptDeliveryError (with a reason for the requester) on any failure, including
    recipients the server refused, so the caller never reports a transcript that was not sent.
    """
    host = settings.host
    if not host:
        raise TranscriptDeliveryError("e-mail is not configured (transcripts.email.host)")
    timeout = getattr(settings, "timeout", 30.0)
    where = f"{host}:{settings.port}"
    try:
        if settings.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, settings.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, settings.port, timeout=timeout)
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.username:
                client.login(settings.username, settings.password or "")
            refused = client.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise TranscriptDeliveryError(
            f"the mail server {where} refused our login ({exc.smtp_code})"
        )
    except smtplib.SMTPRecipientsRefused as exc:
        who = ", ".join(exc.recipients)
        raise TranscriptDeliveryError(f"the mail server refused the address {who}")
    except smtplib.SMTPNotSupportedError as exc:
        raise TranscriptDeliveryError(f"the mail server {where} does not support it: {exc}")
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else exc.smtp_error
        )
        raise TranscriptDeliveryError(f"the mail server {where} answered {exc.smtp_code} {text}")
    except (smtplib.SMTPException, ssl.SSLError) as exc:
        raise TranscriptDeliveryError(f"talking to the mail server {where} failed: {exc}")
    except TimeoutError:
        raise TranscriptDeliveryError(f"the mail server {where} did not answer in time")
    except OSError as exc:
        raise TranscriptDeliveryError(
            f"cannot reach the mail server {where}: {exc.strerror or exc}"
        )
    if refused:
        raise TranscriptDeliveryError(
            "the mail server refused the address " + ", ".join(sorted(refused))
        )
