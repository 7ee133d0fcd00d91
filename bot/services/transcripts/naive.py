"""The naive PDF renderer: one `multi_cell` per message, fpdf2's own fallback fonts, no
shaping. Kept as the baseline `bench/transcript.py` measures `render_pdf` against."""

from __future__ import annotations

from collections.abc import Iterable

from fpdf import FPDF

from .fonts import default_fonts
from .linebreak import SCRIPT_PATTERNS
from .model import TranscriptData, TranscriptMessage
from .pdf import (
    BODY_SIZE,
    HEADER_SIZE,
    PAGE_MARGIN,
    TITLE_SIZE,
    RenderOptions,
    TranscriptRenderError,
)
from .sections import attachment_line, author_line, header_lines, quote_line, title_line


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
