"""Typed reads of request parameters, with the ajv-style errors RC's validators give."""

from __future__ import annotations

import json
from typing import Any

from .http import Req, failure, invalid


def string_param(req: Req, key: str, *, required: bool = False) -> str | None:
    value = req.params.get(key)
    if value is None:
        if required:
            raise invalid(f"must have required property '{key}'")
        return None
    if not isinstance(value, str):
        raise invalid(f"'{key}' must be string")
    return value


def string_list_param(value: Any, key: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(f"'{key}' must be array of strings")
    return value


def sort_param(req: Req, default: dict[str, int]) -> dict[str, int]:
    raw = req.params.get("sort")
    if raw in (None, ""):
        return default
    try:
        sort = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise failure("Invalid sort parameter provided") from None
    if not isinstance(sort, dict) or not all(v in (1, -1) for v in sort.values()):
        raise failure("Invalid sort parameter provided")
    return sort


def sorted_by(items: list[dict[str, Any]], sort: dict[str, int]) -> list[dict[str, Any]]:
    """Mongo-like sort; equal keys keep insertion order, reversed for a descending key (so a
    tie on `ts` still lists the newer document first)."""
    for key, direction in reversed(list(sort.items())):
        ordered = items if direction > 0 else items[::-1]
        try:
            items = sorted(
                ordered,
                key=lambda d, k=key: (
                    d.get(k) is not None,
                    d.get(k) if d.get(k) is not None else 0,
                ),
                reverse=direction < 0,
            )
        except TypeError:  # values of kinds Python cannot order (documents, mixed types)
            items = sorted(ordered, key=lambda d, k=key: str(d.get(k)), reverse=direction < 0)
    return items
