"""Typed errors of the transport. Everything the wire can throw at us becomes one of these."""

from __future__ import annotations

from typing import Any


class RocketChatError(Exception):
    """Base of every transport error. `reason` is safe to show to a user."""

    def __init__(self, reason: str, *, error: str | int | None = None, details: Any = None):
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.details = details


class ConnectionLost(RocketChatError):
    """The socket dropped, or the call could not be sent; a retry after reconnect may succeed."""


class CallTimeout(RocketChatError):
    """No answer within the call's timeout."""


class AuthenticationFailed(RocketChatError):
    """Login was refused (bad password, revoked token)."""


class NotAllowed(RocketChatError):
    """The server refused for lack of permission or access (403, `error-not-allowed`)."""


class NotFound(RocketChatError):
    """Unknown room, user, message or endpoint (404, `error-room-not-found`, …)."""


class RateLimited(RocketChatError):
    """Too many requests; `retry_after` is in seconds."""

    def __init__(self, reason: str, *, retry_after: float, **kw: Any):
        super().__init__(reason, **kw)
        self.retry_after = retry_after


class ServerError(RocketChatError):
    """Any other error answer (Meteor.Error, 400, 5xx)."""
