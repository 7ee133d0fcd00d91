"""A fast line breaker for fpdf2, measuring with the fonts' own width tables.

fpdf2's `multi_cell` re-measures the text through its fragment machinery for every candidate
break, which is where 90% of a naive transcript's time goes. Here a word is measured once
(summing the font's per-character advance widths, cached per word), lines are filled greedily,
and a word wider than the line is broken between characters (long URLs, CJK runs).

Characters are assigned a *role* (which font draws them): the style's main font when it has
the glyph, else the CJK / Arabic / Hebrew font. Arabic and Hebrew always go to their own font
because they need shaping and right-to-left placement, which fpdf2 does via harfbuzz.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

RTL_ROLES = frozenset({"arabic", "hebrew"})
PLACEHOLDER = "\u25a1"  # WHITE SQUARE: visible, and present in DejaVu/Noto Sans

# Scripts that break between any two characters (no spaces between words).
_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u2ff0-\u303f\u3040-\u9fff\ua960-\ua97f"
    "\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff"
)
_TOKEN = re.compile(rf"\s+|[{_CJK}]|[^\s{_CJK}]+")
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u0870-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_HEBREW = re.compile("[\u0590-\u05ff\ufb1d-\ufb4f]")
_CJK_RE = re.compile(f"[{_CJK}]")
# Pictographs, dingbats and the emoji blocks: the emoji font draws what the main one lacks.
_EMOJI = re.compile("[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]")


SCRIPT_PATTERNS = {"arabic": _ARABIC, "hebrew": _HEBREW, "cjk": _CJK_RE, "emoji": _EMOJI}


def script_role(ch: str) -> str | None:
    """The non-Latin font a character asks for by its Unicode block, if any."""
    if _ARABIC.match(ch):
        return "arabic"
    if _HEBREW.match(ch):
        return "hebrew"
    if _CJK_RE.match(ch):
        return "cjk"
    if _EMOJI.match(ch):
        return "emoji"
    return None


@dataclass(frozen=True)
class Run:
    role: str
    text: str


class Breaker:
    """Wraps paragraphs for one style; shared caches make repeated words free.

    `role_of(ch)` says which role draws a character (it may load a font on first use) and
    `cw(role)` returns that role's width table (1/1000 em, keyed by code point).
    """

    def __init__(
        self,
        main_role: str,
        role_of: Callable[[str], str],
        cw: Callable[[str], dict[int, float]],
        size_pt: float,
        k: float,
    ) -> None:
        self.main = main_role
        self.role_of = role_of
        self._cw = cw
        self._scale = size_pt / 1000 / k  # width units -> user units (mm)
        self._main_chars: set[str] = set()  # characters known to be drawn by the main font
        self._word_w: dict[str, float] = {}

    # -- measuring -----------------------------------------------------------------------------

    def is_plain(self, text: str) -> bool:
        """True when the main font draws every character (the common, fast case)."""
        if self._main_chars.issuperset(text):
            return True
        plain = True
        for ch in set(text) - self._main_chars:
            if self.role_of(ch) == self.main:
                self._main_chars.add(ch)
            else:
                plain = False
        return plain

    def width(self, text: str) -> float:
        w = self._word_w.get(text)
        if w is None:
            if self.is_plain(text):
                cw = self._cw(self.main)
                w = sum([cw[ord(c)] for c in text]) * self._scale
            else:
                w = sum(self.run_width(run) for run in self.runs(text))
            if len(text) < 64:  # long tokens (URLs) rarely repeat; don't let them bloat the cache
                self._word_w[text] = w
        return w

    def run_width(self, run: Run) -> float:
        cw = self._cw(run.role)
        return sum([cw[ord(c)] for c in run.text]) * self._scale

    def runs(self, line: str) -> list[Run]:
        """Split a line into same-font runs; spaces join the run before them."""
        if self.is_plain(line):
            return [Run(self.main, line)]
        out: list[Run] = []
        role_of = self.role_of
        cur_role = self.main
        buf: list[str] = []
        for ch in line:
            role = cur_role if ch.isspace() and buf else role_of(ch)
            if role != cur_role and buf:
                out.append(Run(cur_role, "".join(buf)))
                buf = []
            cur_role = role
            buf.append(ch)
        if buf:
            out.append(Run(cur_role, "".join(buf)))
        return [piece for run in out for piece in self._split_rtl_trailing_space(run)]

    def _split_rtl_trailing_space(self, run: Run) -> list[Run]:
        # A right-to-left run is drawn as one shaped box: a space at its logical end would sit
        # on the wrong side of it. Give the space to the main font, between the runs.
        if run.role not in RTL_ROLES or not run.text[-1].isspace():
            return [run]
        text = run.text.rstrip()
        if not text:
            return [Run(self.main, run.text)]
        return [Run(run.role, text), Run(self.main, run.text[len(text) :])]

    # -- breaking ------------------------------------------------------------------------------

    def wrap(self, paragraph: str, avail: float) -> list[str]:
        """Greedy fill; a token wider than the line is cut between characters."""
        if not paragraph:
            return [""]
        width = self.width
        lines: list[str] = []
        cur: list[str] = []
        x = 0.0
        for tok in _TOKEN.findall(paragraph):
            w = width(tok)
            if tok[0].isspace():
                if cur:
                    cur.append(tok)
                    x += w
                continue
            if x + w <= avail:
                cur.append(tok)
                x += w
                continue
            if cur:
                lines.append("".join(cur).rstrip())
                cur, x = [], 0.0
            if w <= avail:
                cur, x = [tok], w
                continue
            # A word longer than a whole line: cut it where it overflows.
            piece: list[str] = []
            px = 0.0
            for ch in tok:
                cwid = width(ch)
                if px + cwid > avail and piece:
                    lines.append("".join(piece))
                    piece, px = [], 0.0
                piece.append(ch)
                px += cwid
            cur, x = piece, px
        if cur or not lines:
            lines.append("".join(cur).rstrip())
        return lines
