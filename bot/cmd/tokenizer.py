"""A quote-aware tokenizer for command lines.

Words are split on whitespace. A quote opens a group only at the start of a word or right after
`=` in `key=value` / `+flag=value`, so apostrophes inside words (`don't`) need no escaping. Inside a
group, a backslash escapes the quote character; every other backslash is kept (regexes, paths).
Straight and typographic quotes are accepted because phone keyboards insert the latter.

Options keep their place in the token list; the binder (`bot.cmd.registry`) decides whether a
`key=value` or `+flag` is an option of the command or just a word of free text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.cmd.errors import BadArgument

# opening quote -> closing quote
_QUOTES = {'"': '"', "'": "'", "“": "”", "„": "“", "‘": "’", "«": "»"}
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

TokenKind = Literal["word", "option", "flag"]


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a command line.

    `value` is the text with quotes removed (for options and flags: the part after `=`, or None
    for a bare `+flag`); `raw` is the text as typed; `start`/`end` index the original line.
    """

    kind: TokenKind
    value: str | None
    raw: str
    start: int
    end: int
    key: str = ""
    quoted: bool = False

    @property
    def text(self) -> str:
        """The token as a positional word (options and flags that are not declared become words)."""
        if self.kind == "word":
            return self.value or ""
        head = ("+" if self.kind == "flag" else "") + self.key
        return head if self.value is None else f"{head}={self.value}"


def tokenize(line: str) -> list[Token]:
    """Split `line` into tokens; an unclosed quote raises `BadArgument`."""
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        start = i
        kind: TokenKind = "word"
        key = ""
        head = _KEY.match(line, i + 1 if line[i] == "+" else i)
        if head and head.start() == i + 1 and (head.end() == n or line[head.end()] in "= \t\n\r"):
            kind, key, i = "flag", head.group(), head.end()
        elif head and head.start() == i and head.end() < n and line[head.end()] == "=":
            kind, key, i = "option", head.group(), head.end()
        has_value = kind == "word"
        if kind != "word" and i < n and line[i] == "=":
            i += 1
            has_value = True
        value, quoted, i = _read_value(line, i) if has_value else ("", False, i)
        tokens.append(
            Token(
                kind=kind,
                value=value if has_value else None,
                raw=line[start:i],
                start=start,
                end=i,
                key=key,
                quoted=quoted,
            )
        )
    return tokens


def _read_value(line: str, i: int) -> tuple[str, bool, int]:
    """Read one word starting at `i` (quoted groups may be glued to bare text, as in a shell)."""
    out: list[str] = []
    quoted = False
    n = len(line)
    at_start = True
    while i < n and not line[i].isspace():
        ch = line[i]
        if at_start and ch in _QUOTES:
            close = _QUOTES[ch]
            j = i + 1
            while True:
                if j >= n:
                    shown = line[i : i + 20] + ("…" if n - i > 20 else "")
                    raise BadArgument(f"Unclosed quote {ch} in: {shown}")
                if line[j] == "\\" and j + 1 < n and line[j + 1] in (ch, close):
                    out.append(line[j + 1])
                    j += 2
                    continue
                if line[j] == close:
                    break
                out.append(line[j])
                j += 1
            quoted = True
            i = j + 1
            # text glued after a closing quote is literal: "foo"'s stays foo's
            at_start = False
            continue
        if ch == "\\" and i + 1 < n and line[i + 1] in _QUOTES:
            out.append(line[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
        at_start = False
    return "".join(out), quoted, i
