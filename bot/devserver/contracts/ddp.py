"""The parameter checks Rocket.Chat's DDP methods make before anything else (`check()` from
`meteor/check`, and the explicit `Match.test`s), for the methods the bot calls.

A failed `check()` throws Match.Error, which Meteor's DDP server sends as its `sanitizedError`:
Meteor.Error(400, "Match failed"). Sources: RC 8.x `app/lib/server/methods/sendMessage.ts`,
`server/methods/loadHistory.ts`, `app/lib/server/methods/addUsersToRoom.ts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Refusal = dict[str, Any]  # {"error": code, "reason": text, "details"?: {...}}

MATCH_FAILED: Refusal = {"error": 400, "reason": "Match failed"}


def _maybe(kind: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """Match.Maybe(X): absent, null or X."""
    return lambda v: v is None or kind(v)


def _string(v: Any) -> bool:
    return isinstance(v, str)


def _boolean(v: Any) -> bool:
    return isinstance(v, bool)


def _date(v: Any) -> bool:
    """An EJSON date on the wire: {"$date": milliseconds}."""
    return isinstance(v, dict) and set(v) == {"$date"} and isinstance(v["$date"], int | float)


def _object(v: Any) -> bool:
    return isinstance(v, dict)


#: check(message, {...}) in sendMessage: exactly these keys, each Match.Maybe(type)
SEND_MESSAGE: dict[str, Callable[[Any], bool]] = {
    "_id": _maybe(_string),
    "rid": _maybe(_string),
    "msg": _maybe(_string),
    "tmid": _maybe(_string),
    "tshow": _maybe(_boolean),
    "ts": _maybe(_date),
    "t": _maybe(_string),
    "bot": _maybe(_object),
    "content": _maybe(_object),
    "e2e": _maybe(_string),
    "e2eMentions": _maybe(_object),
    "customFields": _maybe(_object),
    "federation": _maybe(_object),
    "groupable": _maybe(_boolean),
    "sentByEmail": _maybe(_boolean),
}


def _file_to_confirm(f: Any) -> bool:
    """Match.ObjectIncluding({_id: String, name: Maybe(String), content: Maybe(OneOf(...))})"""
    if not isinstance(f, dict) or not isinstance(f.get("_id"), str):
        return False
    if not _maybe(_string)(f.get("name")):
        return False
    content = f.get("content")
    if content is None:
        return True
    if not isinstance(content, dict) or not isinstance(content.get("ciphertext"), str):
        return False
    v1 = set(content) == {"algorithm", "ciphertext"} and content["algorithm"] == "rc.v1.aes-sha2"
    v2 = (
        set(content) == {"algorithm", "ciphertext", "kid", "iv"}
        and content["algorithm"] == "rc.v2.aes-sha2"
        and isinstance(content["kid"], str)
        and isinstance(content["iv"], str)
    )
    return v1 or v2


def _send_message(params: list) -> Refusal | None:
    message = params[0] if params else None
    if not isinstance(message, dict):
        return MATCH_FAILED
    for key, value in message.items():
        rule = SEND_MESSAGE.get(key)
        if rule is None or not rule(value):
            return MATCH_FAILED
    files = params[2] if len(params) > 2 else None
    if files is not None and not (
        isinstance(files, list) and all(_file_to_confirm(f) for f in files)
    ):
        return MATCH_FAILED
    return None


def _load_history(params: list) -> Refusal | None:
    # check(rid, String); the other arguments are not checked
    return None if params and isinstance(params[0], str) else MATCH_FAILED


def _add_users_to_room(params: list) -> Refusal | None:
    data = params[0] if params else None
    if not isinstance(data, dict):
        # On Rocket.Chat `data.rid` on a non-object is a TypeError (a 500); the method's own
        # handler answers it here.
        return None
    if not isinstance(data.get("rid"), str):
        return {
            "error": "error-invalid-room",
            "reason": "Invalid room",
            "details": {"method": "addUsersToRoom"},
        }
    return None


CHECKS: dict[str, Callable[[list], Refusal | None]] = {
    "sendMessage": _send_message,
    "loadHistory": _load_history,
    "addUsersToRoom": _add_users_to_room,
}
