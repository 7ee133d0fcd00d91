"""Issue 17: a right-to-left author's header line is laid out like a left-to-right one, and emoji
are drawn (an emoji font) or named, never a box. Checked in the extracted text, in the word
positions pdftotext reports, and in the rendered pixels."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from bot.services.transcripts.fonts import FontSet, default_fonts
from bot.services.transcripts.linebreak import PLACEHOLDER
from bot.services.transcripts.model import TranscriptData, TranscriptMessage
from bot.services.transcripts.pdf import RenderOptions, render_pdf
from tests.test_transcript_helpers import needs_poppler, pdf_text

AT = datetime(2025, 3, 14, 20, 23, tzinfo=UTC)
WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>'
)


def transcript(*messages: tuple[str, str | None, str]) -> TranscriptData:
    return TranscriptData(
        number=7,
        messages=[
            TranscriptMessage(ts=AT, username=user, display_name=name, text=text)
            for user, name, text in messages
        ],
    )


def words(pdf: bytes, tmp_path: Path) -> list[tuple[float, float, float, float, str]]:
    """Every word on page 1 with its box (points, origin top left)."""
    path = tmp_path / "w.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-bbox", "-f", "1", "-l", "1", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in WORD.findall(out)]


def line_of(all_words: list, first: tuple) -> list:
    """The words on the same line as `first`, left to right."""
    middle = (first[1] + first[3]) / 2
    return sorted((w for w in all_words if w[1] <= middle <= w[3]), key=lambda w: w[0])


def has_font(role: str) -> bool:
    return default_fonts().get(role) is not None


@needs_poppler
@pytest.mark.skipif(not has_font("arabic"), reason="no Arabic font installed")
@pytest.mark.parametrize("name", ["مريم العربية", "מרים כהן"])
def test_rtl_author_line_has_time_name_handle_in_the_ltr_order_and_spacing(tmp_path, name):
    data = transcript(("rtl", name, "مرحبا"), ("alice", "Alice Agent", "hello"))
    found = words(render_pdf(data), tmp_path)
    times = [w for w in found if w[4] == "20:23"]
    assert len(times) == 2
    rtl_line, ltr_line = (line_of(found, t) for t in times)
    # The time first, at the same left edge in both lines; the handle last.
    assert rtl_line[0][4] == "20:23" and ltr_line[0][4] == "20:23"
    assert rtl_line[0][0] == pytest.approx(ltr_line[0][0], abs=0.5)
    assert rtl_line[-1][4] == "(@rtl)" and ltr_line[-1][4] == "(@alice)"
    # The name between them, after the same gap as "Alice" (not glued to the time).
    gap = lambda line: line[1][0] - line[0][2]  # noqa: E731
    assert gap(rtl_line) == pytest.approx(gap(ltr_line), abs=0.6)
    assert gap(rtl_line[-2:]) == pytest.approx(gap(ltr_line[-2:]), abs=1.0)
    assert "".join(w[4] for w in rtl_line[1:-1]) != ""  # the name itself is there


EMOJI = "👍"  # U+1F44D: not in DejaVu Sans, so only an emoji font draws it


def glyph_box(pdf: bytes, tmp_path: Path, word: str) -> tuple[float, float, float, float]:
    [box] = [w[:4] for w in words(pdf, tmp_path) if w[4] == word]
    return box


def page_image(pdf: bytes, tmp_path: Path, name: str, dpi: int = 150) -> Image.Image:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(path),
            str(tmp_path / name),
        ],
        check=True,
        capture_output=True,
    )
    return Image.open(tmp_path / f"{name}.png").convert("L")


def crop(image: Image.Image, box: tuple[float, float, float, float], dpi: int = 150):
    scale = dpi / 72
    x0, y0, x1, y1 = box
    return image.crop((int(x0 * scale), int(y0 * scale), int(x1 * scale) + 1, int(y1 * scale) + 1))


def ink(image: Image.Image) -> int:
    return sum(image.histogram()[:128])


@needs_poppler
@pytest.mark.skipif(not has_font("emoji"), reason="no emoji font (apt-get install fonts-symbola)")
def test_emoji_are_drawn_with_an_emoji_font_not_as_a_box(tmp_path):
    drawn = render_pdf(transcript(("alice", None, f"ok {EMOJI} thanks")))
    text = pdf_text(drawn, tmp_path)
    assert f"ok {EMOJI} thanks" in text and PLACEHOLDER not in text
    assert "Warning: no font" not in text
    # The pixels: ink where the glyph is, and not the placeholder's square.
    boxed = render_pdf(transcript(("alice", None, f"ok {PLACEHOLDER} thanks")))
    emoji_box = glyph_box(drawn, tmp_path, EMOJI)
    square_box = glyph_box(boxed, tmp_path, PLACEHOLDER)
    glyph = crop(page_image(drawn, tmp_path, "drawn"), emoji_box)
    square = crop(page_image(boxed, tmp_path, "boxed"), square_box)
    assert ink(glyph) > 20, "nothing drawn where the emoji is"
    size = (max(glyph.width, square.width), max(glyph.height, square.height))
    difference = ImageChops.difference(glyph.resize(size), square.resize(size))
    assert ink(ImageChops.invert(difference)) > 20, "the emoji looks like the placeholder box"


@needs_poppler
def test_without_an_emoji_font_emoji_are_named_not_boxed(tmp_path):
    sans_only = FontSet({"sans": default_fonts().get("sans")})
    said = f"ok {EMOJI}\N{EMOJI MODIFIER FITZPATRICK TYPE-4} thanks \N{MELTING FACE}"
    text = pdf_text(
        render_pdf(transcript(("alice", None, said)), RenderOptions(fonts=sans_only)), tmp_path
    )
    assert "ok :thumbs up sign: thanks :melting face:" in text
    assert PLACEHOLDER not in text and "Warning: no font" not in text


@needs_poppler
@pytest.mark.skipif(not has_font("emoji"), reason="no emoji font (apt-get install fonts-symbola)")
def test_emoji_newer_than_the_font_are_named_and_modifiers_dropped(tmp_path):
    said = f"{EMOJI}\N{EMOJI MODIFIER FITZPATRICK TYPE-4}\ufe0f and \N{MELTING FACE}"
    text = pdf_text(render_pdf(transcript(("alice", None, said))), tmp_path)
    assert f"{EMOJI} and :melting face:" in text
    assert PLACEHOLDER not in text
