"""Plain text into the PDF faster than `FPDF.text`, writing the same operators.

fpdf2's `text` spends two thirds of its time in `encode_text`, which maps every character
through the font subset one by one. `FastText.draw` writes the same operators (see fpdf2 2.8
`FPDF.text`) with a per-font translation table; anything unusual (core or symbol fonts, a
different fpdf2) goes through `FPDF.text`.
"""

from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import TextMode
from fpdf.fonts import TTFFont


class FastText:
    """`FPDF.text` for the plain case, with the glyph mapping cached per font."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self.enabled = True  # False: every run through `FPDF.text`
        self._glyph_maps: dict[str, dict[int, str]] = {}

    def draw(self, x: float, y: float, text: str) -> None:
        pdf = self.pdf
        font = pdf.current_font
        table = self._glyph_maps.get(font.fontkey) if self.enabled else None
        if table is None:
            if not self.enabled or not _fast_text_ok(pdf, font):
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


def _fast_text_ok(pdf: FPDF, font: object) -> bool:
    """The private pieces `FastText.draw` relies on are there and the font is a plain TTF."""
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
