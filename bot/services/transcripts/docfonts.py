"""Fonts inside one PDF: which loaded font draws each character, and what is drawn instead
when no font has it (a symbol's Unicode name, or the placeholder box and a warning).

We pick the font of every run ourselves instead of using fpdf2's fallback fonts (fpdf2 issue
#1772, see `pdf.py`).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from fpdf import FPDF

from .fonts import FontSet
from .linebreak import PLACEHOLDER, RTL_ROLES, SCRIPT_PATTERNS, Breaker, script_role

log = logging.getLogger(__name__)

_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b\ufeff]")  # all but "\n"


@dataclass
class DocFonts:
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


def drawable(b: Breaker, text: str) -> str:
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
