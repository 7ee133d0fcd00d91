"""`/contact set` validation: e-mail, phone, name, and the custom fields of `contacts.fields`
(each with an optional regex, run with RE2 like every user-facing pattern)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import re2

from bot.domain.emailaddr import is_email
from bot.domain.errors import Refused
from bot.domain.text import did_you_mean

BUILTIN = ("name", "email", "phone")
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")
MAX_VALUE = 500


def email(value: str) -> str:
    value = value.strip()
    if not is_email(value):
        raise Refused(f"'{value}' is not an e-mail address.", "error-invalid-email")
    return value


def phone(value: str) -> str:
    """Digits with the usual separators and an optional leading `+`; 6 to 15 digits (E.164)."""
    value = value.strip()
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE_CHARS.match(value) or not 6 <= digits <= 15:
        raise Refused(
            f"'{value}' is not a phone number (digits, spaces, - ( ) and a leading +; "
            "6 to 15 digits).",
            "error-invalid-phone",
        )
    return value


def name(value: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise Refused("The name cannot be empty.", "error-invalid-name")
    if len(value) > 200:
        raise Refused("The name is longer than 200 characters.", "error-invalid-name")
    return value


def _field_check(key: str, spec: Any, value: str) -> str:
    regex = getattr(spec, "regex", None)
    if regex and not re2.search(regex, value):
        label = getattr(spec, "label", None) or key
        raise Refused(
            f"'{value}' is not a valid {label} (it must match {regex}).",
            "error-invalid-custom-field-value",
        )
    return value


def validate(
    pairs: Iterable[tuple[str, str]], fields: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str | None]]:
    """(built-in values, custom field values) from `key=value` pairs, or `Refused` on the first
    problem, so nothing is saved halfway. An empty custom value removes the field; an empty
    e-mail or phone clears it."""
    builtin: dict[str, str] = {}
    custom: dict[str, str | None] = {}
    known = {k.lower(): k for k in fields}
    for raw_key, raw_value in pairs:
        key = raw_key.lower()
        value = raw_value.strip()
        if len(value) > MAX_VALUE:
            raise Refused(f"The value of {raw_key} is longer than {MAX_VALUE} characters.")
        if key == "name":
            builtin["name"] = name(value)
        elif key in ("email", "phone"):
            builtin[key] = (email(value) if key == "email" else phone(value)) if value else ""
        elif key in known:
            field = known[key]
            custom[field] = _field_check(field, fields[field], value) if value else None
        else:
            choices = [*BUILTIN, *fields]
            close = did_you_mean(raw_key, choices)
            hint = f" Did you mean {close[0]}?" if close else f" Known: {', '.join(choices)}."
            raise Refused(f"Unknown contact field '{raw_key}'.{hint}", "error-invalid-field")
    return builtin, custom
