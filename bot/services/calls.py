"""`/call`: meeting links from `calls.provider` (the record of who answered: `bot/store/calls.py`).

`jitsi` makes `<base_url>/<room>`; `template` fills `url_template`'s `{room}`, `{number}` and
`{random}`. The room name carries a random part so a link cannot be guessed from the number.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from bot.domain.errors import Refused

NOT_CONFIGURED = (
    "Calls are not set up. An admin must set `calls.provider` in the bot's configuration: "
    "`jitsi` (with `calls.base_url`, e.g. https://meet.jit.si) or `template` (with "
    "`calls.url_template`, e.g. https://meet.example.com/{room}; placeholders {room}, "
    "{number}, {random})."
)


def meeting_url(calls_cfg: Any, *, number: int, token: str | None = None) -> str:
    """The meeting link for conversation `number`; `Refused` when no provider is configured."""
    provider = getattr(calls_cfg, "provider", None)
    token = token or secrets.token_hex(6)
    room = f"omnicat-{number}-{token}"
    if provider == "jitsi":
        base = (getattr(calls_cfg, "base_url", None) or "https://meet.jit.si").rstrip("/")
        return f"{base}/{room}"
    if provider == "template" and getattr(calls_cfg, "url_template", None):
        # str.replace, not str.format: a template is admin text, not a format spec.
        url = str(calls_cfg.url_template)
        for key, value in (("room", room), ("number", str(number)), ("random", token)):
            url = url.replace("{" + key + "}", quote(value, safe=""))
        return url
    raise Refused(NOT_CONFIGURED, "error-calls-not-configured")
