"""The one exception the domain raises when it says no."""

from __future__ import annotations


class Refused(Exception):
    """A transition or action the rules do not allow.

    `reason` is the sentence shown to the user as is; `key` mirrors the Rocket.Chat error key
    (e.g. `error-inquiry-taken`) so tests and logs can match on something stable.
    """

    def __init__(self, reason: str, key: str = "error-refused") -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key

    def __str__(self) -> str:
        return self.reason
