"""A serialized Meteor.Error (DDP's `result.error` / `nosub.error`, and REST's method.call
answers) as one of the transport's typed exceptions."""

from __future__ import annotations

from typing import Any

from bot.chat.errors import (
    AuthenticationFailed,
    NotAllowed,
    NotFound,
    RateLimited,
    RocketChatError,
    ServerError,
)

_NOT_FOUND_ERRORS = {"error-room-not-found", "error-invalid-room", "error-message-not-found"}
_NOT_ALLOWED_ERRORS = {"error-not-allowed", "not-allowed", "error-action-not-allowed"}


def map_meteor_error(error: Any, *, login: bool = False) -> RocketChatError:
    """A serialized Meteor.Error (a `result.error` or `nosub.error`) as a typed exception."""
    if not isinstance(error, dict):
        return ServerError(str(error))
    code = error.get("error")
    reason = str(error.get("reason") or error.get("message") or code or "unknown error")
    details = error.get("details")
    kw: dict[str, Any] = {"error": code, "details": details}
    # DDP v1 lets `error` be a number or a string; compare both spellings.
    code_text = str(code)
    if code_text == "too-many-requests":
        ms = details.get("timeToReset") if isinstance(details, dict) else None
        retry = ms / 1000 if isinstance(ms, int | float) and not isinstance(ms, bool) else 1.0
        return RateLimited(reason, retry_after=max(0.0, retry), **kw)
    if login and code_text in {"401", "403"}:
        return AuthenticationFailed(reason, **kw)
    if code_text in {"401"}:
        return AuthenticationFailed(reason, **kw)
    if code_text == "403" or code_text in _NOT_ALLOWED_ERRORS:
        return NotAllowed(reason, **kw)
    if code_text == "404" or code_text in _NOT_FOUND_ERRORS:
        return NotFound(reason, **kw)
    return ServerError(reason, **kw)
