"""The typed values of the configuration: a scalar from YAML (or from `${ENV}`) as the type its
schema field declares (`bool`, `int`, `float`, a duration, text, a `Literal` choice)."""

from __future__ import annotations

import math
import re
import typing
from datetime import timedelta
from typing import Any

from bot.config.problems import Invalid

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str | int) -> timedelta:
    """`30s`, `30m`, `1h`, `1h30m`, `2d`, `0` as a timedelta; ValueError otherwise."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(text)  # `after:` left empty is None: a wrong value, not a crash
    if isinstance(text, int):
        if text == 0:
            return timedelta(0)
        raise ValueError(text)
    text = text.strip().lower().replace(" ", "")
    if text == "0":
        return timedelta(0)
    match = _DURATION.match(text)
    if not text or not match:
        raise ValueError(text)
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def convert(tp: Any, raw: Any, from_env: bool) -> Any:
    """The value of type `tp` a scalar stands for; Invalid says what was expected. A value
    from the environment is always text: `from_env` accepts "true", "42" and "1.5" there."""
    if typing.get_origin(tp) is typing.Literal:
        choices = typing.get_args(tp)
        candidate = raw.upper() if isinstance(raw, str) and "DEBUG" in choices else raw
        if candidate in choices:
            return candidate
        raise Invalid(f"expected one of {', '.join(choices)}, got {raw!r}")
    if tp is bool:
        if from_env and isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if isinstance(raw, bool):
            return raw
        raise Invalid(f"expected true or false, got {raw!r}")
    if tp is int:
        if from_env and isinstance(raw, str) and raw.strip().isdigit():
            return int(raw)
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        raise Invalid(f"expected a whole number, got {raw!r}")
    if tp is float:
        if from_env and isinstance(raw, str):
            try:
                return float(raw)
            except ValueError:
                pass
        if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
            return float(raw)
        raise Invalid(f"expected a number, got {raw!r}")
    if tp is timedelta:
        try:
            return parse_duration(raw)
        except (ValueError, TypeError):
            raise Invalid(
                f"expected a duration like 30s, 30m, 1h, 1h30m or 0, got {raw!r}"
            ) from None
    if tp is str:
        if isinstance(raw, bool) or raw is None or isinstance(raw, list | dict):
            raise Invalid(f"expected text, got {raw!r}")
        # Unquoted numbers are fine as text (a room name `2024`, a port in a URL).
        return str(raw)
    raise TypeError(f"unsupported config type {tp!r}")  # a schema bug, not user input
