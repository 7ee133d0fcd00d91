"""The PDF transcript: header, then every message in order.

`render_pdf` lays the page out: it wraps with `linebreak.Breaker` and emits each line with
`FastText` (`FPDF.text`'s operators), one call per same-font run; only Arabic/Hebrew runs go
through fpdf2's shaping (`cell`). The words come from `sections.py`, the font of each character
from `docfonts.py`; `naive.py` is the benchmark's baseline (one `multi_cell` per message).

fpdf2 issue #1772: when the first text on a page is drawn in a *fallback* font
(`set_fallback_fonts`), fpdf2 records that font as the page's current font and later text in
the main font is emitted without its font selection, so it vanishes. We never use fpdf2's
fallback fonts: we pick the font of every run ourselves, and the font selection is forgotten at
each page break so the page's first run re-emits it.

Pure CPU and no shared state: callers run it in a worker thread (`render_pdf_async`).
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from dataclasses import dataclass
from typing import Any

from fpdf import FPDF

from .docfonts import DocFonts, drawable
from .fasttext import FastText
from .fonts import PACKAGE_HINT, ROLE_LABEL, FontSet, default_fonts, discover_fonts
from .linebreak import PLACEHOLDER, RTL_ROLES, Breaker, Run
from .model import TranscriptAttachment, TranscriptData, TranscriptMessage
from .sections import (
    CASE_EVENTS,
    attachment_line,
    author_line,
    header_lines,
    quote_line,
    title_line,
)

log = logging.getLogger(__name__)

PAGE_MARGIN = 15.0  # mm
BODY_SIZE = 10.0  # pt
HEADER_SIZE = 10.0
TITLE_SIZE = 15.0
LINE_FACTOR = 1.4  # line height / font size
TALL_FACTOR = 1.5  # lines with Arabic script
INDENT = 6.0  # mm, message body under its author line
PX_TO_MM = 25.4 / 96  # images at 96 dpi unless wider than the page


class TranscriptRenderError(Exception):
    """The PDF could not be produced (no usable font at all, or fpdf2 failed)."""


@dataclass(frozen=True)
class RenderOptions:
    system_messages_italic: bool = True
    fonts: FontSet | None = None  # None = discover system fonts once per process


class _Writer:
    """One document: pages, the running y, wrapped paragraphs and each message's block."""

    def __init__(self, data: TranscriptData, options: RenderOptions) -> None:
        self.data = data
        self.options = options
        fonts = options.fonts or default_fonts()
        if fonts.get("sans") is None:
            raise TranscriptRenderError(
                "no Unicode font found for transcripts (install fonts-dejavu-core "
                "or set transcripts.fonts.paths)"
            )
        self.pdf = pdf = FPDF(unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(PAGE_MARGIN, PAGE_MARGIN, PAGE_MARGIN)
        pdf.c_margin = 0  # shaped runs go through `cell`; its padding would shift them
        pdf.set_title(title_line(data))
        pdf.set_creator("Omnicat")
        self.doc = DocFonts(pdf, fonts)
        self.width = pdf.w - 2 * PAGE_MARGIN
        self.bottom = pdf.h - PAGE_MARGIN
        self.page_no = 0
        self.y = 0.0
        self._breakers: dict[tuple[str, float], Breaker] = {}
        self._current: tuple[str, float] | None = None  # (family, size) last set
        self.fast_text = FastText(pdf)

    # -- fonts / measuring -------------------------------------------------------------------

    def breaker(self, main: str, size: float) -> Breaker:
        key = (main, size)
        b = self._breakers.get(key)
        if b is None:
            if self.doc.family(main) is None:
                main = "sans"  # bold/italic missing: fall back to regular
            # Characters no font draws get the role "missing"; `clean` replaces them before
            # the breaker measures anything.
            b = Breaker(main, self.doc.role_of_for(main), self.doc.cw, size, self.pdf.k)
            self._breakers[key] = b
        return b

    def set_font(self, family: str, size: float) -> None:
        if self._current != (family, size):
            self.pdf.set_font(family, "", size)
            self._current = (family, size)

    # -- pages -------------------------------------------------------------------------------

    def new_page(self) -> None:
        pdf = self.pdf
        pdf.add_page()
        self._current = None
        self.page_no += 1
        # No running head or footer: it would land inside messages split across pages in the
        # extracted text. Every run re-selects its font after a page break (see #1772 above).
        self.y = PAGE_MARGIN

    def need(self, height: float) -> None:
        if self.y + height > self.bottom:
            self.new_page()

    # -- text --------------------------------------------------------------------------------

    def paragraph(
        self,
        text: str,
        *,
        role: str = "sans",
        size: float = BODY_SIZE,
        indent: float = 0.0,
        ltr: bool = False,
    ) -> None:
        """Wrap and draw `text`; a paragraph whose first letter is Arabic or Hebrew is laid out
        right to left, unless `ltr` (lines we compose, like "time  name (@handle)")."""
        b = self.breaker(role, size)
        line_h = size * LINE_FACTOR / self.pdf.k
        avail = self.width - indent
        for para in drawable(b, text).split("\n"):
            rtl_para = not ltr and self._is_rtl(b, para)
            for line in b.wrap(para, avail):
                runs = b.runs(line) if line else []
                # Arabic fonts reach far above and below Latin ones: give them room, or
                # they touch the next line (and pdftotext merges the two).
                tall = any(run.role == "arabic" for run in runs)
                h = line_h * TALL_FACTOR if tall else line_h
                self.need(h)
                self.y += h
                if runs:
                    self.emit_line(runs, b, line, PAGE_MARGIN + indent, avail, size, rtl_para)

    def _is_rtl(self, b: Breaker, para: str) -> bool:
        if b.is_plain(para):
            return False
        for ch in para:
            if ch.isalpha():
                return b.role_of(ch) in RTL_ROLES
        return False

    def emit_line(
        self,
        runs: list[Run],
        b: Breaker,
        line: str,
        x: float,
        avail: float,
        size: float,
        rtl: bool,
    ) -> None:
        pdf = self.pdf
        baseline = self.y - (LINE_FACTOR - 1) * size / pdf.k / 2 - 0.2 * size / pdf.k
        if len(runs) == 1 and runs[0].role not in RTL_ROLES:
            family = self.doc.loaded[runs[0].role]
            self.set_font(family, size)
            self.fast_text.draw(x, baseline, line)
            return
        widths = [self.run_width(b, r, size) for r in runs]
        if rtl:
            # Runs in visual order. Kept flush left, under the author line: right-aligned
            # lines become a separate column to text extractors (pdftotext, screen readers),
            # which then detach them from their message.
            runs, widths = runs[::-1], widths[::-1]
        for run, w in zip(runs, widths, strict=True):
            family = self.doc.loaded[run.role]
            self.set_font(family, size)
            if run.role in RTL_ROLES:
                self.shaped(run, x, baseline, w, size)
            else:
                self.fast_text.draw(x, baseline, run.text)
            x += w

    def run_width(self, b: Breaker, run: Run, size: float) -> float:
        if run.role not in RTL_ROLES:
            return b.run_width(run)
        self.set_font(self.doc.loaded[run.role], size)
        self._shaping(run.role)
        try:
            return self.pdf.get_string_width(run.text)
        finally:
            self.pdf.set_text_shaping(False)

    def _shaping(self, role: str) -> None:
        script = "arab" if role == "arabic" else "hebr"
        self.pdf.set_text_shaping(True, direction="rtl", script=script)

    def shaped(self, run: Run, x: float, baseline: float, w: float, size: float) -> None:
        """Arabic/Hebrew through harfbuzz; `cell` centres text vertically, so aim its box."""
        pdf = self.pdf
        h = LINE_FACTOR * size / pdf.k
        top = baseline - 0.5 * h - 0.3 * size / pdf.k
        self._shaping(run.role)
        try:
            pdf.set_xy(x, top)
            pdf.cell(w, h, run.text.strip())
        finally:
            pdf.set_text_shaping(False)

    # -- document ----------------------------------------------------------------------------

    def render(self) -> bytes:
        data = self.data
        self.new_page()
        self.paragraph(title_line(data), role="sans-bold", size=TITLE_SIZE)
        self.y += 2
        for label, value in header_lines(data):
            self.paragraph(f"{label}: {value}", size=HEADER_SIZE, ltr=True)
        warn_at = self.y  # warnings about missing fonts are known only at the end
        self.y += 2
        self.pdf.line(PAGE_MARGIN, self.y, self.pdf.w - PAGE_MARGIN, self.y)
        self.y += 3
        last_day = None
        for msg in data.messages:
            day = data.local(msg.ts).date()
            if day != last_day:
                self.need(3 * BODY_SIZE * LINE_FACTOR / self.pdf.k)
                self.y += 1.5
                self.paragraph(day.strftime("%A, %d %B %Y"), role="sans-bold")
                last_day = day
            self.message(msg)
        if data.events:
            self.case_events()
        if self.doc.missing_scripts:
            self.missing_fonts_warning(warn_at)
        try:
            return bytes(self.pdf.output())
        except Exception as exc:
            raise TranscriptRenderError(f"PDF output failed: {exc}") from exc

    def missing_fonts_warning(self, warn_at: float) -> None:
        """Drawn on page 1 after the fact, in the gap left under the header."""
        scripts = sorted(self.doc.missing_scripts)
        labels = ", ".join(ROLE_LABEL.get(s, "some characters") for s in scripts)
        hints = sorted({PACKAGE_HINT[s] for s in scripts if s in PACKAGE_HINT})
        text = f"Warning: no font installed for {labels}; such text is shown as {PLACEHOLDER}"
        if hints:
            text += f" (install {', '.join(hints)})"
        self.pdf.page = 1
        self.set_font(self.doc.loaded["sans"], 8)
        self.pdf.set_text_color(180, 0, 0)
        self.pdf.text(PAGE_MARGIN, warn_at + 1.5, text)
        self.pdf.set_text_color(0)
        log.warning("transcript #%s: %s", self.data.number, text)

    def case_events(self) -> None:
        """The agents' *case events* (from the event log), after the messages."""
        data = self.data
        self.need(4 * BODY_SIZE * LINE_FACTOR / self.pdf.k)
        self.y += 3
        self.paragraph(CASE_EVENTS, role="sans-bold")
        for event in data.events:
            self.paragraph(f"{data.local(event.at):%Y-%m-%d %H:%M}  {event.text}")

    def message(self, msg: TranscriptMessage) -> None:
        line_h = BODY_SIZE * LINE_FACTOR / self.pdf.k
        self.need(2 * line_h)  # keep the author line with the first line of text
        self.y += 0.8
        # Always left to right: a right-to-left name must not move the time to the far end.
        self.paragraph(author_line(self.data, msg), role="sans-bold", ltr=True)
        quote = quote_line(msg)
        if quote:
            self.pdf.set_text_color(90)
            self.paragraph(quote, role="sans-italic", indent=INDENT + 2)
            self.pdf.set_text_color(0)
        if msg.text:
            italic = msg.system is not None and self.options.system_messages_italic
            self.paragraph(msg.text, role="sans-italic" if italic else "sans", indent=INDENT)
        for att in msg.attachments:
            self.paragraph(attachment_line(att), role="sans-italic", indent=INDENT)
            if att.is_image and att.data:
                self.image(att)

    def image(self, att: TranscriptAttachment) -> None:
        img = load_image(att.data or b"")
        if img is None:
            self.paragraph("(image could not be read)", role="sans-italic", indent=INDENT)
            return
        avail_w = self.width - INDENT
        max_h = (self.bottom - PAGE_MARGIN) * 0.6
        w = min(avail_w, img.width * PX_TO_MM)
        h = w * img.height / img.width
        if h > max_h:
            w, h = w * max_h / h, max_h
        self.need(h + 2)
        self.y += 1
        self.pdf.image(img, x=PAGE_MARGIN + INDENT, y=self.y, w=w, h=h, alt_text=att.name)
        self.y += h + 1


def load_image(data: bytes):  # -> PIL.Image.Image | None
    """Any Pillow-readable image (PNG, JPEG, GIF first frame, WebP) as RGB/RGBA."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.seek(0)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, EOFError):
        return None
    if img.width < 1 or img.height < 1:
        return None
    if img.mode not in ("RGB", "RGBA", "L"):
        img = img.convert("RGBA" if "transparency" in img.info or "A" in img.mode else "RGB")
    return img


@functools.cache
def fonts_for(paths: tuple[str, ...] = ()) -> FontSet:
    """Fonts for `transcripts.fonts.paths`, discovered once per process per setting."""
    return discover_fonts(paths) if paths else default_fonts()


def options_from_config(transcripts: Any) -> RenderOptions:
    """RenderOptions from `bot.config.schema.Transcripts`."""
    return RenderOptions(
        system_messages_italic=transcripts.system_messages_italic,
        fonts=fonts_for(tuple(transcripts.fonts.paths)),
    )


def render_pdf(data: TranscriptData, options: RenderOptions | None = None) -> bytes:
    """The transcript as PDF bytes. Raises TranscriptRenderError."""
    return _Writer(data, options or RenderOptions()).render()


async def render_pdf_async(data: TranscriptData, options: RenderOptions | None = None) -> bytes:
    """`render_pdf` in a worker thread, so a 10,000-message transcript never blocks the loop."""
    return await asyncio.to_thread(render_pdf, data, options)
