"""Checks a schema field names in its metadata (`field(metadata={"check": "timezone"})`, `min`):
a value of the right type that still cannot work (a URL without http://, an unknown time zone,
a regular expression RE2 refuses)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config.problems import Invalid


def _check_http_url(value: str) -> None:
    if not re.match(r"^https?://[^\s/]+", value):
        raise Invalid(f"expected an http:// or https:// URL, got {value!r}")


def _check_positive(value: float) -> None:
    if value <= 0:
        raise Invalid(f"expected a number > 0, got {value:g}")


def _check_listen(value: str) -> None:
    if not value:
        return  # `${OMNICAT_HTTP_LISTEN:-}` unset: off, like an empty value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise Invalid(f"expected host:port like 127.0.0.1:9090, got {value!r}")


def _check_prefixes(value: tuple[str, ...]) -> None:
    if not value:
        raise Invalid("expected at least one prefix")
    for prefix in value:
        if not prefix or any(c.isspace() for c in prefix):
            raise Invalid(f"expected prefixes without spaces, got {prefix!r}")


def _check_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(f"expected a time zone name like UTC or Europe/Berlin, got {value!r}")


def _check_clock_time(value: str) -> None:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise Invalid(f"expected a time of day like 08:00 (24 h), got {value!r}")


def _check_regex(value: str) -> None:
    import re2  # the same engine that will run it: safe against hostile patterns

    options = re2.Options()
    options.log_errors = False  # else RE2 writes its own copy of the error to stderr
    try:
        re2.compile(value, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise Invalid(f"expected a regular expression (RE2 syntax): {reason}") from None


def _check_shortcut(value: str) -> None:
    if not re.fullmatch(r"!?[\w.-]+", value):
        raise Invalid(f"expected a shortcut word like 'greeting', got {value!r}")


def _check_scope(value: str) -> None:
    if value != "global" and not re.fullmatch(r"department:\S+", value):
        raise Invalid(f"expected global or department:<name>, got {value!r}")


def _check_room_name(value: str) -> None:
    try:
        value.format(number=1, contact="x", department="d")
    except (KeyError, IndexError, ValueError) as exc:
        raise Invalid(
            f"expected a name template using {{number}}, {{contact}}, {{department}}: {exc!r}"
        )


CHECKS = {
    "http_url": _check_http_url,
    "listen": _check_listen,
    "positive": _check_positive,
    "prefixes": _check_prefixes,
    "timezone": _check_timezone,
    "clock_time": _check_clock_time,
    "regex": _check_regex,
    "shortcut": _check_shortcut,
    "scope": _check_scope,
    "room_name": _check_room_name,
}


def check(meta: Mapping[str, Any], value: Any) -> None:
    """The checks a schema field names in its metadata (`min`, `check`); Invalid if one fails."""
    minimum = meta.get("min")
    if minimum is not None and isinstance(value, int) and value < minimum:
        raise Invalid(f"expected a number >= {minimum}, got {value}")
    name = meta.get("check")
    if name and name != "required" and value is not None:
        CHECKS[name](value)
