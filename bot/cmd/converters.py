"""Typed converters for command arguments, options and flag values.

A converter turns one word into a value or raises `BadArgument` with a reason the user can act
on. Each knows how it looks in a usage line (`metavar`). Converters that need the configuration
(departments) read it from the context they are given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.cmd.errors import BadArgument
from bot.domain.emailaddr import is_email
from bot.domain.text import did_you_mean

_USERNAME = re.compile(r"^[\w.\-]{1,64}$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class Converter:
    """Base: subclasses set `metavar` and implement `convert`."""

    metavar = "value"
    #: a rest-of-line converter takes all remaining positional words
    rest = False

    def convert(self, word: str, ctx: Any) -> Any:
        return word

    def metavar_for(self, name: str) -> str:
        return name


class Word(Converter):
    """Any single word, as typed."""

    def convert(self, word: str, ctx: Any) -> str:
        return word


class Text(Converter):
    """The rest of the line: remaining positional words, quoted groups kept whole."""

    rest = True

    def convert(self, word: str, ctx: Any) -> str:
        return word


class Integer(Converter):
    def __init__(self, minimum: int | None = None, maximum: int | None = None) -> None:
        self.minimum, self.maximum = minimum, maximum

    def convert(self, word: str, ctx: Any) -> int:
        try:
            value = int(word)
        except ValueError:
            raise BadArgument(f"Expected a whole number, got '{word}'.")
        if self.minimum is not None and value < self.minimum:
            raise BadArgument(f"Expected a number of at least {self.minimum}, got {value}.")
        if self.maximum is not None and value > self.maximum:
            raise BadArgument(f"Expected a number of at most {self.maximum}, got {value}.")
        return value


class Username(Converter):
    """`@alice` or `alice` → `"alice"`. The handler resolves it to a real user via `ctx.chat`."""

    def convert(self, word: str, ctx: Any) -> str:
        name = word[1:] if word.startswith("@") else word
        if not _USERNAME.match(name):
            raise BadArgument(f"'{word}' is not a username (expected @name).")
        return name

    def metavar_for(self, name: str) -> str:
        return f"@{name}"


def conversation_number(word: str, *, bare: bool = False) -> int | None:
    """`#12` → 12 (and `12` too when `bare`); None when `word` is not a conversation number."""
    digits = word[1:] if word.startswith("#") else (word if bare else "")
    if not digits.isdigit() or not digits.isascii() or len(digits) > 12 or int(digits) <= 0:
        return None
    return int(digits)


class ConversationNumber(Converter):
    """`#12` or `12` → 12; with `bare=False` only `#12` (in a conversation room a bare number is
    more likely the start of a comment)."""

    def __init__(self, *, bare: bool = True) -> None:
        self.bare = bare

    def convert(self, word: str, ctx: Any) -> int:
        number = conversation_number(word, bare=self.bare)
        if number is None:
            raise BadArgument(f"'{word}' is not a conversation number (expected #N, e.g. #12).")
        return number

    def metavar_for(self, name: str) -> str:
        return "#N"


class Duration(Converter):
    """`30m`, `1h30m`, `2d`, `45s` → timedelta (> 0)."""

    def convert(self, word: str, ctx: Any) -> timedelta:
        text = word.strip().lower()
        match = _DURATION.match(text)
        if not text or not match:
            raise BadArgument(f"'{word}' is not a duration (expected e.g. 30m, 1h30m, 2d).")
        d, h, m, s = (int(g) if g else 0 for g in match.groups())
        value = timedelta(days=d, hours=h, minutes=m, seconds=s)
        if value <= timedelta(0):
            raise BadArgument(f"'{word}' is not a duration longer than zero.")
        return value


class Choice(Converter):
    """One of a fixed set of words (case-insensitive); returns the declared spelling."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    def convert(self, word: str, ctx: Any) -> str:
        for choice in self.choices:
            if choice.lower() == word.lower():
                return choice
        reason = f"Expected one of {', '.join(self.choices)}; got '{word}'."
        close = did_you_mean(word, self.choices)
        if close:
            reason += f" Did you mean {close[0]}?"
        raise BadArgument(reason)

    def metavar_for(self, name: str) -> str:
        return "|".join(self.choices)


class Department(Converter):
    """A department configured in YAML (`sales` or `#sales`), with "did you mean"."""

    def convert(self, word: str, ctx: Any) -> str:
        name = word[1:] if word.startswith("#") else word
        known = configured_departments(getattr(ctx, "config", None))
        for dept in known:
            if dept.lower() == name.lower():
                return dept
        if not known:
            raise BadArgument("No departments are configured.")
        reason = f"Unknown department '{name}'."
        close = did_you_mean(name, known)
        reason += f" Did you mean {close[0]}?" if close else f" Known: {', '.join(known)}."
        raise BadArgument(reason)


class ListOf(Converter):
    """`a,b, c` → `["a", "b", "c"]` (empty items dropped), each item converted."""

    def __init__(self, item: Converter | None = None) -> None:
        self.item = item or Word()

    def convert(self, word: str, ctx: Any) -> list[Any]:
        return [self.item.convert(part.strip(), ctx) for part in word.split(",") if part.strip()]

    def metavar_for(self, name: str) -> str:
        return "a,b"


class Email(Converter):
    def convert(self, word: str, ctx: Any) -> str:
        if not is_email(word):
            raise BadArgument(f"'{word}' is not an e-mail address.")
        return word

    def metavar_for(self, name: str) -> str:
        return "address"


class AnyOf(Converter):
    """The first converter that accepts the word (e.g. `@agent` or a department)."""

    def __init__(self, *converters: Converter, metavar: str | None = None) -> None:
        self.converters = converters
        self._metavar = metavar

    def convert(self, word: str, ctx: Any) -> Any:
        reasons = []
        for conv in self.converters:
            try:
                return conv.convert(word, ctx)
            except BadArgument as exc:
                reasons.append(exc.reason)
        raise BadArgument(reasons[-1] if len(reasons) == 1 else " ".join(reasons))

    def metavar_for(self, name: str) -> str:
        return self._metavar or "|".join(c.metavar_for(name) for c in self.converters)


class Func(Converter):
    """Wrap a plain function; a ValueError becomes `BadArgument` with its message."""

    def __init__(self, fn: Callable[[str], Any], metavar: str | None = None) -> None:
        self.fn, self._metavar = fn, metavar

    def convert(self, word: str, ctx: Any) -> Any:
        try:
            return self.fn(word)
        except ValueError as exc:
            raise BadArgument(str(exc) or f"Cannot understand '{word}'.")

    def metavar_for(self, name: str) -> str:
        return self._metavar or name


def configured_departments(config: Any) -> list[str]:
    """Department names from the config (a mapping of name → settings), tolerant of None."""
    departments = getattr(config, "departments", None)
    if not departments:
        return []
    if isinstance(departments, dict) or hasattr(departments, "keys"):
        return [str(k) for k in departments]
    return [str(getattr(d, "name", d)) for d in departments]


# Ready-made instances for declarations: `Arg("agent", USER)`.
WORD = Word()
TEXT = Text()
USER = Username()
CONVERSATION = ConversationNumber()
HASH_NUMBER = ConversationNumber(bare=False)
DURATION = Duration()
DEPARTMENT = Department()
EMAIL = Email()
TAGS = ListOf()
