"""User search patterns, compiled with RE2 (linear time: `(a+)+$` cannot stall the bot).

The input is always a regular expression; plain words are valid regular expressions, so they
work as typed. Matching is line-oriented, like grep: `^`/`$` are line anchors and no match
spans a line break (`never_nl`), which is also what lets the engine search many messages
joined by newlines in one pass without a match leaking from one message into the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re2

try:  # the raw matcher skips the wrapper's generator; ~2x faster per call on hot loops
    from re2 import _Anchor

    _UNANCHORED: Any = _Anchor.UNANCHORED
except ImportError:  # pragma: no cover - depends on google-re2's internals
    _UNANCHORED = None

MAX_PATTERN_LENGTH = 500


class InvalidPattern(ValueError):
    """A pattern RE2 refuses; `str()` is a one-line reason fit to show the user."""


def _explain(pattern: str, error: Exception) -> str:
    raw = error.args[0] if error.args else str(error)
    reason = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    reason = reason.split(":", 1)[0].strip() or "not a valid regular expression"
    hint = ""
    if any(op in pattern for op in ("(?=", "(?!", "(?<=", "(?<!")):
        hint = " (look-ahead and look-behind are not supported)"
    elif any(f"\\{d}" in pattern for d in "123456789"):
        hint = " (back-references like \\1 are not supported)"
    elif re2.escape(pattern) != pattern:
        hint = f" — to search for the text as typed, escape it: {re2.escape(pattern)}"
    return f"Invalid pattern {pattern!r}: {reason}{hint}."


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled search pattern. Use `compile_pattern` to make one."""

    source: str
    ignore_case: bool
    regex: Any = field(repr=False, compare=False)

    def first(self, data: bytes, pos: int, end: int) -> int:
        """Start offset of the first match in `data[pos:end]` (UTF-8 bytes), or -1."""
        if _UNANCHORED is not None:
            return self.regex._regexp.Match(_UNANCHORED, data, pos, end)[0][0]
        found = self.regex.search(data, pos, end)
        return -1 if found is None else found.start()

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of every non-empty match in a message's text."""
        return [m.span() for m in self.regex.finditer(text) if m.end() > m.start()]

    def matches(self, text: str) -> bool:
        return self.regex.search(text) is not None


def compile_pattern(text: str, *, ignore_case: bool = True) -> Pattern:
    """Compile a user's pattern. Inline flags (`(?i)`, `(?-i)`, `(?s)`) win over `ignore_case`.

    Raises `InvalidPattern` with a reason (and a hint to escape) when RE2 rejects it, and for
    patterns that are empty or match empty text (they would match every message).
    """
    if not text or not text.strip():
        raise InvalidPattern("The search pattern is empty.")
    if len(text) > MAX_PATTERN_LENGTH:
        raise InvalidPattern(f"The search pattern is longer than {MAX_PATTERN_LENGTH} characters.")
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.never_nl = True
    options.log_errors = False
    try:
        re2.compile(text, options)  # validate alone, so errors name only what the user typed
    except re2.error as error:
        raise InvalidPattern(_explain(text, error)) from None
    # Balanced now, so the group only keeps a top-level alternation under the (?m) flag.
    regex = re2.compile(f"(?m)(?:{text})", options)
    if regex.search("") is not None:
        raise InvalidPattern(
            f"The pattern {text!r} matches empty text, so it would match every message."
        )
    return Pattern(source=text, ignore_case=ignore_case, regex=regex)
