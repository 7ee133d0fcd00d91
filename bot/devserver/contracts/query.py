"""A query string parsed the way Rocket.Chat's router parses it (npm `qs`, default options):
`a=1&a=2` and `a[]=1` give lists, `a[b]=1` gives {"a": {"b": "1"}}, `a[0]=x` a list by index;
every value a string. The dev server's own lenient parse stays in rest.py."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_MAX_DEPTH = 5  # qs `depth`: deeper brackets stay part of the last key


def _split_key(key: str) -> list[str]:
    head, bracket, _ = key.partition("[")
    if not bracket or not head:
        return [key]
    rest = key[len(head) :]
    parts = [head]
    pos = 0
    for m in _SEGMENT.finditer(rest):
        if m.start() != pos or len(parts) > _MAX_DEPTH:
            break
        parts.append(m.group(1))
        pos = m.end()
    if pos < len(rest):
        parts.append(rest[pos:])  # qs keeps the unparsed remainder as a literal key
    return parts


def _merge(target: dict[str, Any], parts: list[str], value: str) -> None:
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if part == "" or part.isdigit():
                if last:
                    node.append(value)
                    return
                node.append({})
                node = node[-1]
                continue
            # a named key under a list turns it into an object, as qs does
            node = {str(j): v for j, v in enumerate(node)}
        if last:
            if part in node:
                prev = node[part]
                node[part] = [*prev, value] if isinstance(prev, list) else [prev, value]
            else:
                node[part] = value
            return
        nxt = parts[i + 1]
        if part not in node or not isinstance(node[part], dict | list):
            node[part] = [] if (nxt == "" or nxt.isdigit()) and part not in node else {}
        node = node[part]


def parse_query(raw: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for piece in raw.split("&"):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        key = unquote_plus(key, errors="replace")
        if not key:
            continue
        _merge(out, _split_key(key), unquote_plus(value, errors="replace") if eq else "")
    return out
