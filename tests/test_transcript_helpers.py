"""Shared helpers for the transcript tests (no tests here): build conversations, read PDFs."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.services.transcripts.model import TranscriptContact, TranscriptData, TranscriptMessage

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed"
)

START = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
RLE, PDF = "\u202b", "\u202c"
BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def conversation(*said: tuple[str, str], tz: float = 0.0, **fields) -> TranscriptData:
    """`conversation(("maria", "hello"), ("alice", "hi"))`, one minute apart from START."""
    messages = [
        TranscriptMessage(ts=START + timedelta(minutes=i), username=user, text=text)
        for i, (user, text) in enumerate(said)
    ]
    defaults = dict(
        number=42,
        room_name="maria-ivanova",
        contact=TranscriptContact("Maria Ivanova", "maria", "maria@example.org"),
        department="Sales",
        agents=("alice",),
        tags=("vip",),
        topic="Delivery",
        created_at=START,
        taken_at=START + timedelta(seconds=30),
        closed_at=START + timedelta(minutes=len(said)),
        timezone=tz,
        messages=messages,
    )
    defaults.update(fields)
    return TranscriptData(**defaults)


def pdf_text(pdf: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "t.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", *args, str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "\n".join(logical(line) for line in out.splitlines())


def logical(line: str) -> str:
    """pdftotext's line back in logical order.

    pdftotext picks one direction per page (left-to-right when most text is Latin) and prints a
    right-to-left line as RLE…PDF embeddings in visual order, left to right, with the neutral
    characters (",", "،", "?") between them. Reversing the pieces restores the logical order.
    """
    if RLE not in line:
        return BIDI_CONTROLS.sub("", line)
    pieces = [p for p in re.split(f"({RLE}[^{PDF}]*{PDF})", line) if p]
    if any(RLE not in p and re.search(r"\w", p) for p in pieces):
        return BIDI_CONTROLS.sub("", line)  # a mixed left-to-right line: leave it
    return BIDI_CONTROLS.sub("", "".join(reversed(pieces)))


# pdftotext prints a lam-alef ligature glyph's two letters reversed (it reverses the characters
# of right-to-left words, including the two-letter ToUnicode entry of the ligature glyph), so
# "لا" comes out as "ال". Expected text is normalised the same way before comparing.
_LIGATURES = {
    "\u0644\u0627": "\u0627\u0644",
    "\u0644\u0625": "\u0625\u0644",
    "\u0644\u0623": "\u0623\u0644",
    "\u0644\u0622": "\u0622\u0644",
}


def as_extracted(text: str) -> str:
    for logical_form, extracted in _LIGATURES.items():
        text = text.replace(logical_form, extracted)
    return text


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_in_order(haystack: str, needles: list[str]) -> None:
    """Each needle appears after the previous one (whitespace ignored: lines wrap)."""
    text = squash(haystack)
    pos = 0
    for needle in needles:
        wanted = squash(as_extracted(needle))
        found = text.find(wanted, pos)
        assert found >= 0, f"{needle!r} missing after position {pos}: …{text[pos : pos + 200]}…"
        pos = found + len(wanted)
