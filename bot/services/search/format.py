"""Rendering search hits as chat lines: the matching line, trimmed, with the match marked.

Rocket.Chat markdown: `*bold*` marks a match. Characters that would open or close markup in the
quoted text (`*`, `_`, `~`, backquote) are swapped for look-alikes, so a user's text can neither
break our marks nor turn the rest of the reply into code or italics.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from bot.domain.text import inline, neutralise, strip_controls
from bot.services.search.engine import Hit, SearchResult

MARK = "*"


def _safe(segment: str) -> str:
    """A piece of the user's line: no markup, controls or line breaks (`bot.domain.text`)."""
    return neutralise(strip_controls(segment).replace("\n", " "))


def _merged(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Non-empty spans in order, touching or overlapping ones joined: `/search .` matches each
    character on its own, and `*H**i*` would read worse than `*Hi*`."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(sp for sp in spans if sp[1] > sp[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _line_of(text: str, spans: Sequence[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """The line holding the first match, with the spans that fall on it (line-relative)."""
    anchor = spans[0][0] if spans else 0
    start = text.rfind("\n", 0, anchor) + 1
    end = text.find("\n", anchor)
    end = len(text) if end < 0 else end
    inside = [(s - start, e - start) for s, e in spans if s >= start and e <= end]
    return text[start:end], inside


def _covers_all(line: str, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether `spans` hold every non-space character of `line`."""
    marked = sum(len(line[s:e].replace(" ", "")) for s, e in spans)
    return bool(spans) and marked == len(line.replace(" ", ""))


def mark_line(text: str, spans: Sequence[tuple[int, int]], *, width: int = 160) -> str:
    """The matching line of `text`, at most about `width` characters around the first match
    (cut ends shown as `…`), every match on it wrapped in `*…*`."""
    line, inside = _line_of(text, spans)
    inside = _merged(inside)
    if _covers_all(line, inside):
        inside = []  # every character matched (`.`, `.+`, `\w`): a mark would say nothing
    lo, hi = 0, len(line)
    if len(line) > width:
        first = inside[0] if inside else (0, 0)
        lo = max(0, min(first[0] - width // 3, len(line) - width))
        hi = lo + width
    out: list[str] = ["…"] if lo > 0 else []
    cursor = lo
    for s, e in inside:
        s, e = max(s, cursor), min(e, hi)
        if s >= e:
            continue
        # Markdown emphasis needs its marks against non-space characters.
        core = line[s:e]
        stripped = core.strip()
        if not stripped:
            continue
        lead = len(core) - len(core.lstrip())
        out.append(_safe(line[cursor : s + lead]))
        out.append(f"{MARK}{_safe(stripped)}{MARK}")
        cursor = s + lead + len(stripped)
    out.append(_safe(line[cursor:hi]))
    if hi < len(line):
        out.append("…")
    return "".join(out)


def format_hit(hit: Hit, *, tz: tzinfo | None = None, width: int = 160) -> str:
    """`2026-11-26 14:03 @alice: the line with the *match*`."""
    when: datetime = hit.ts.astimezone(tz) if tz else hit.ts
    marked = mark_line(hit.text, hit.spans, width=width)
    return f"{when:%Y-%m-%d %H:%M} @{inline(hit.author)}: {marked}"


def format_result(result: SearchResult, *, tz: tzinfo | None = None, width: int = 160) -> str:
    """The hits, one per line, with "…and N more" when capped; "No matches." when empty."""
    if not result.hits:
        return "No matches."
    lines = [format_hit(hit, tz=tz, width=width) for hit in result.hits]
    if result.more:
        lines.append(f"…and {result.more} more")
    return "\n".join(lines)
