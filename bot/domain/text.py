"""Pure helpers on the words people type: untrusted text (names, first lines, comments, file
names, visitor fields) as safe message text, and "did you mean".

Everything a user typed and the bot repeats goes through here, so a visitor cannot make the bot
say something it did not mean: a name like `[Take it](http://evil.example/phish)` must not
render a link next to our real *Take it* button, a name with newlines must not add a fake
"New chat #99 from @ceo" line, U+202E must not reverse the rest of our line, and `@all` in a
name must not ping a whole room.

Rocket.Chat's message parser has no escape character, so the markup characters are replaced by
look-alikes that it does not parse (`[` → `［`, `*` → `∗`, …): the text still reads the same to
a person, and no markup, link or mention comes out of it.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence

#: markup Rocket.Chat's parser understands, and a look-alike it does not
_LOOKALIKES = str.maketrans(
    {
        "[": "［",  # [text](url) links
        "]": "］",
        "<": "‹",  # <url|text> links
        ">": "›",  # > quotes
        "*": "∗",  # *bold*
        "~": "∼",  # ~strike~
        "`": "ˋ",  # `code`, ```blocks```
        "|": "∣",  # <url|text>, tables
    }
)

#: `_italic_`: an underscore opening or closing a word (bob_smith stays as it is)
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
#: `@mention`, `@all`, `@here`: an at sign that starts a word (an e-mail address stays as it is)
_MENTION = re.compile(r"(?<![\w.+-])@")

#: direction controls: embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and
#: the marks (LRM, RLM, ALM); they would reorder the bot's own words after them
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")

_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")
_SPACES = re.compile(r"\s+")

#: what a folded line break reads as inside one line
LINE_MARK = " ⏎ "


def _clean_char(ch: str) -> str:
    if ch in _BIDI:
        return ""
    category = unicodedata.category(ch)
    if category == "Cc":  # control characters (line breaks are folded before this)
        return " " if ch == "\t" else ""
    if category in ("Cs", "Co", "Cn"):  # lone surrogates, private use, unassigned
        return "\ufffd" if category != "Cn" else ""
    return ch


def strip_controls(text: str) -> str:
    """`text` without control and direction-override characters (line breaks kept)."""
    return "".join(ch if ch in "\n" else _clean_char(ch) for ch in text.replace("\r\n", "\n"))


def neutralise(text: str) -> str:
    """`text` with every markup character replaced by a look-alike the parser leaves alone."""
    text = _EDGE_UNDERSCORE.sub("＿", text.translate(_LOOKALIKES))
    return _MENTION.sub("＠", text)


def _shorten(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…"


def inline(text: str | None, limit: int | None = None) -> str:
    """Untrusted text as a piece of one line: line breaks folded, controls removed, no markup.

    For names, subjects, file names, comments and first lines inside the bot's own sentences.
    """
    if not text:
        return ""
    folded = LINE_MARK.join(part.strip() for part in _LINE_BREAKS.split(text) if part.strip())
    cleaned = _SPACES.sub(" ", strip_controls(folded)).strip()
    return neutralise(_shorten(cleaned, limit))


def quoted(text: str | None, limit: int | None = None) -> str:
    """Untrusted text, line breaks kept, as a block quote (`> ` before every line)."""
    cleaned = strip_controls(text or "")
    lines = [neutralise(line.rstrip()) for line in _shorten(cleaned, limit).split("\n")]
    return "\n".join(f"> {line}" if line else ">" for line in lines or [""])


def name_of(display: str | None, username: str | None) -> str:
    """`@username (Display Name)`, both parts made safe; the username alone when they match."""
    label = f"@{inline(username) or '?'}"
    shown = inline(display, 80)
    if shown and display != username:
        return f"{label} ({shown})"
    return label


def did_you_mean(
    word: str, choices: Sequence[str], *, n: int = 1, cutoff: float = 0.6
) -> list[str]:
    """Close matches of `word` among `choices` (case-insensitive), best first."""
    lowered = {c.lower(): c for c in choices}
    matches = difflib.get_close_matches(word.lower(), lowered, n=n, cutoff=cutoff)
    return [lowered[m] for m in matches]
