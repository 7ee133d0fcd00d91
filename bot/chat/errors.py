"""Typed errors of the transport. Everything the wire can throw at us becomes one of these."""

from __future__ import annotations

import re
from typing import Any

_KEY = re.compile(r"^[a-z][a-z0-9]*(?:-[A-Za-z0-9]+)+$")
_BRACKETED = re.compile(r"\[([a-z][a-z0-9]*(?:-[A-Za-z0-9]+)+)\]")


class RocketChatError(Exception):
    """Base of every transport error. `reason` is safe to show to a user."""

    def __init__(self, reason: str, *, error: str | int | None = None, details: Any = None):
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.details = details

    @property
    def key(self) -> str | None:
        """Rocket.Chat's error key (`error-not-allowed`, `error-user-is-offline`, …) when the
        answer named one: as the Meteor error / REST `errorType`, as the REST `error` text
        itself (the livechat routes answer `{success:false, error:'<key>'}`), or bracketed at
        the end of a sentence ("Sorry, no online agents [no-agent-online]")."""
        if isinstance(self.error, str) and _KEY.match(self.error):
            return self.error
        text = self.reason.rpartition(": ")[2].strip()
        if _KEY.match(text):
            return text
        found = _BRACKETED.search(self.reason)
        return found.group(1) if found else None


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
