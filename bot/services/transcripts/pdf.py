"""The PDF transcript: header, then every message in order.

Two renderers share the layout decisions:

- `render_pdf` (ours): wraps with `linebreak.Breaker` and emits each line with `FPDF.text`,
  one call per same-font run; only Arabic/Hebrew runs go through fpdf2's shaping (`cell`).
- `render_naive`: one `multi_cell` per message, kept as the benchmark baseline.

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
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import TextMode
from fpdf.fonts import TTFFont

from .fonts import PACKAGE_HINT, ROLE_LABEL, FontSet, default_fonts, discover_fonts
from .linebreak import PLACEHOLDER, RTL_ROLES, SCRIPT_PATTERNS, Breaker, Run, script_role
from .model import TranscriptAttachment, TranscriptData, TranscriptMessage

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


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b\ufeff]")  # all but "\n"

# Not "-": pdftotext joins a line ending in a hyphen with the next one.
NONE = "—"


def human_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def attachment_line(att: TranscriptAttachment) -> str:
    return f"Attachment: {att.name} ({att.mime_type}, {human_size(att.size)})"


def author_line(data: TranscriptData, msg: TranscriptMessage) -> str:
    parts = [data.local(msg.ts).strftime("%H:%M"), msg.author]
    if msg.edited:
        parts.append("(edited)")
    if msg.tmid:
        parts.append("(thread reply)")
    return "  ".join(parts)


def quote_line(msg: TranscriptMessage) -> str | None:
    if not msg.quote:
        return None
    who = f"{msg.quote_author}: " if msg.quote_author else ""
    return f"> {who}{msg.quote}"


def _fmt_time(data: TranscriptData, when: datetime | None) -> str:
    return data.local(when).strftime("%Y-%m-%d %H:%M") if when else NONE


CASE_EVENTS = "Case events"


def header_lines(data: TranscriptData) -> list[tuple[str, str]]:
    contact = data.contact
    who = " ".join(
        p
        for p in (
            contact.name or "",
            f"@{contact.username}" if contact.username else "",
            f"<{contact.email}>" if contact.email else "",
        )
        if p
    )
    return [
        ("Conversation", f"#{data.number} {data.room_name}".strip()),
        ("Contact", who or NONE),
        ("Department", data.department or NONE),
        ("Agents", ", ".join(data.agents) or NONE),
        ("Tags", ", ".join(data.tags) or NONE),
        ("Topic", data.topic or NONE),
        ("Created", _fmt_time(data, data.created_at)),
        ("Taken", _fmt_time(data, data.taken_at)),
        ("Closed", _fmt_time(data, data.closed_at)),
        ("Messages", str(len(data.messages))),
        ("Times in", data.tz_label),
    ]


def title_line(data: TranscriptData) -> str:
    return f"{data.site_name} — transcript of #{data.number}"


# ---------------------------------------------------------------------------------------------
# Fonts inside one document


@dataclass
class _DocFonts:
    """Roles -> fpdf2 font families for one FPDF, loaded on first use."""

    pdf: FPDF
    fonts: FontSet
    loaded: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    missing_scripts: set[str] = field(default_factory=set)
    _cmaps: dict[str, dict[int, str]] = field(default_factory=dict)

    def family(self, role: str) -> str | None:
        if role in self.loaded:
            return self.loaded[role]
        if role in self.failed:
            return None
        ff = self.fonts.get(role)
        if ff is None and role in RTL_ROLES:
            # Right-to-left text still needs shaping and reordering when drawn by the main
            # font (DejaVu Sans has Arabic and Hebrew letters and shaping tables).
            ff = self.fonts.get("sans")
        if ff is None:
            self.failed.add(role)
            return None
        name = f"omni-{role}"
        try:
            self.pdf.add_font(name, "", ff.path, collection_font_number=ff.index)
        except Exception as exc:  # a broken font file must not break the transcript
            log.warning("cannot load font %s for %s: %s", ff.path, role, exc)
            self.failed.add(role)
            return None
        self.loaded[role] = name
        self._cmaps[role] = self.pdf.fonts[name].cmap
        return name

    def cw(self, role: str) -> dict[int, float]:
        family = self.family(role)
        assert family is not None
        return self.pdf.fonts[family].cw

    def has(self, role: str, ch: str) -> bool:
        return self.family(role) is not None and ord(ch) in self._cmaps[role]

    def role_of_for(self, main: str) -> Callable[[str], str]:
        cache: dict[str, str] = {}

        def role_of(ch: str) -> str:
            role = cache.get(ch)
            if role is not None:
                return role
            wanted = script_role(ch)
            if wanted in RTL_ROLES and self.has(wanted, ch):
                role = wanted
            elif ch.isspace() or self.has(main, ch):
                role = main
            else:
                candidates = [wanted] if wanted else []
                candidates += [r for r in ("cjk", "arabic", "hebrew", "emoji") if r != wanted]
                role = next((r for r in candidates if self.has(r, ch)), "missing")
                if role == "missing" and readable_fallback(ch) is None:
                    self.missing_scripts.add(wanted or "other")
            cache[ch] = role
            return role

        return role_of


# ---------------------------------------------------------------------------------------------
# Our renderer


class _Writer:
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
        self.doc = _DocFonts(pdf, fonts)
        self.width = pdf.w - 2 * PAGE_MARGIN
        self.bottom = pdf.h - PAGE_MARGIN
        self.page_no = 0
        self.y = 0.0
        self._breakers: dict[tuple[str, float], Breaker] = {}
        self._current: tuple[str, float] | None = None  # (family, size) last set
        self._glyph_maps: dict[str, dict[int, str]] = {}
        self._fast_text = True

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

    def clean(self, b: Breaker, text: str) -> str:
        """Replace characters no font can draw by a visible placeholder."""
        text = text.replace("\t", "  ").replace("\r", "")
        if not text.isprintable():
            text = _CONTROL.sub("", text)
        if b.is_plain(text):
            return text
        # A monochrome font cannot show a skin tone or a colour variant: the modifier would be
        # drawn as a swatch (a box) next to the emoji. Keep the emoji, drop its modifiers.
        text = _EMOJI_MODIFIERS.sub("", text)
        role_of = b.role_of
        if any(role_of(ch) == "missing" for ch in set(text)):
            text = "".join(_substitute(ch) if role_of(ch) == "missing" else ch for ch in text)
        return text

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
        for para in self.clean(b, text).split("\n"):
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
            self.draw_text(x, baseline, line)
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
                self.draw_text(x, baseline, run.text)
            x += w

    def draw_text(self, x: float, y: float, text: str) -> None:
        """`FPDF.text` for the plain case, with the glyph mapping cached per font.

        fpdf2's `text` spends two thirds of its time in `encode_text`, which maps every
        character through the font subset one by one. This writes the same operators (see
        fpdf2 2.8 `FPDF.text`) with a per-font translation table; anything unusual (core or
        symbol fonts, a different fpdf2) goes through `FPDF.text`.
        """
        pdf = self.pdf
        font = pdf.current_font
        table = self._glyph_maps.get(font.fontkey) if self._fast_text else None
        if table is None:
            if not self._fast_text or not _fast_text_ok(pdf, font):
                pdf.text(x, y, text)
                return
            table = self._glyph_maps[font.fontkey] = {}
        if not table.keys() >= set(map(ord, text)):
            for ch in set(text):
                if ord(ch) not in table:
                    mapped = font.subset.pick(ord(ch))
                    table[ord(ch)] = "" if mapped is None else chr(mapped)
        if not pdf.current_font_is_set_on_page:
            pdf._out(pdf._set_font_for_page(font, pdf.font_size_pt))
        k = pdf.k
        encoded = font.escape_text(text.translate(table))
        op = f"BT {x * k:.2f} {(pdf.h - y) * k:.2f} Td ({encoded}) Tj ET"
        if pdf.fill_color != pdf.text_color:
            op = f"q {pdf.text_color.serialize().lower()} {op} Q"
        pdf._out(op)

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


# Invisible parts of emoji sequences (zero-width joiner, variation selectors, skin tones,
# tag characters): with no font for them, dropping them loses nothing a reader sees.
_EMOJI_MODIFIERS = re.compile(
    f"(?<={SCRIPT_PATTERNS['emoji'].pattern})[\u200d\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]+"
)
_IGNORABLE = re.compile("[\u200d\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\U000e0000-\U000e007f]")


def readable_fallback(ch: str) -> str | None:
    """What to print for a symbol no font has: its Unicode name (`:thumbs up sign:`), "" for an
    invisible sequence part, or None (a letter of a script: the placeholder box and a warning)."""
    if _IGNORABLE.match(ch):
        return ""
    if unicodedata.category(ch) == "So" or script_role(ch) == "emoji":
        name = unicodedata.name(ch, "")
        return f":{name.lower()}:" if name else None
    return None


def _substitute(ch: str) -> str:
    fallback = readable_fallback(ch)
    return PLACEHOLDER if fallback is None else fallback


def _fast_text_ok(pdf: FPDF, font: object) -> bool:
    """The private pieces `draw_text` relies on are there and the font is a plain TTF."""
    return (
        isinstance(font, TTFFont)
        and not font.is_symbol
        and not font.color_font
        and pdf.text_mode == TextMode.FILL
        and not (pdf.underline or pdf.strikethrough or pdf._record_text_quad_points)
        and all(
            hasattr(pdf, name)
            for name in ("_out", "_set_font_for_page", "current_font_is_set_on_page")
        )
        and hasattr(font, "subset")
        and hasattr(font, "escape_text")
    )


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


# ---------------------------------------------------------------------------------------------
# The naive baseline


def render_naive(data: TranscriptData, options: RenderOptions | None = None) -> bytes:
    """One `multi_cell` per message, DejaVu, no shaping: the benchmark's baseline."""
    options = options or RenderOptions()
    fonts = options.fonts or default_fonts()
    sans = fonts.get("sans")
    if sans is None:
        raise TranscriptRenderError("no Unicode font found for transcripts")
    pdf = FPDF(unit="mm", format="A4")
    pdf.set_margins(PAGE_MARGIN, PAGE_MARGIN, PAGE_MARGIN)
    pdf.set_auto_page_break(True, PAGE_MARGIN)
    pdf.add_font("sans", "", sans.path)
    for style, role in (("B", "sans-bold"), ("I", "sans-italic")):
        ff = fonts.get(role) or sans
        pdf.add_font("sans", style, ff.path)
    fallbacks = []
    for role in ("cjk", "arabic", "hebrew"):
        ff = fonts.get(role)
        if ff is not None and _needs(data.messages, role):
            pdf.add_font(f"fb-{role}", "", ff.path, collection_font_number=ff.index)
            fallbacks.append(f"fb-{role}")
    if fallbacks:
        pdf.set_fallback_fonts(fallbacks)
    pdf.add_page()
    pdf.set_font("sans", "B", TITLE_SIZE)
    pdf.multi_cell(0, TITLE_SIZE * 0.5, title_line(data), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("sans", "", HEADER_SIZE)
    for label, value in header_lines(data):
        pdf.multi_cell(0, 5, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
    last_day = None
    for msg in data.messages:
        day = data.local(msg.ts).date()
        if day != last_day:
            pdf.set_font("sans", "B", BODY_SIZE)
            pdf.multi_cell(0, 5, day.strftime("%A, %d %B %Y"), new_x="LMARGIN", new_y="NEXT")
            last_day = day
        parts = [author_line(data, msg)]
        quote = quote_line(msg)
        if quote:
            parts.append(quote)
        if msg.text:
            parts.append(msg.text)
        parts += [attachment_line(a) for a in msg.attachments]
        italic = msg.system is not None and options.system_messages_italic
        pdf.set_font("sans", "I" if italic else "", BODY_SIZE)
        pdf.multi_cell(0, 5, "\n".join(parts), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _needs(messages: Iterable[TranscriptMessage], role: str) -> bool:
    pattern = SCRIPT_PATTERNS[role]
    return any(pattern.search(msg.text) for msg in messages)
