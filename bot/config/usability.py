"""Checks for settings that parse but cannot work: an alert with nowhere to go, a placeholder
that nothing fills. Each is refused at load time, so `check-config` finds it and not a customer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.config.schema import Config

# The names `bot.domain.placeholders` fills (the config may not import the domain; a test keeps
# the two lists equal).
PLACEHOLDERS = (
    "contact.name",
    "contact.email",
    "contact.phone",
    "agent.name",
    "agent.email",
    "department",
    "conversation.number",
)
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

Report = Callable[..., None]  # err(path, message, parent=None)


def check_usable(cfg: Config, err: Report) -> None:
    _check_queue_alerts(cfg, err)
    _check_canned_placeholders(cfg, err)


def _check_queue_alerts(cfg: Config, err: Report) -> None:
    """`queue_max_wait` with action alert posts to `timers.supervisor_room`: it must be set."""
    if cfg.timers.supervisor_room:
        return
    scopes: list[tuple[str, str | None]] = [("timers", None)]
    scopes += [(f"departments.{name}.timers", name) for name in cfg.departments]
    for path, department in scopes:
        wait = cfg.timers_for(department).queue_max_wait
        if wait.action != "alert" or wait.after.total_seconds() <= 0:
            continue
        if department is not None:
            override = cfg.departments[department].timers.queue_max_wait
            if override.after is None and override.action is None:
                continue  # inherits the global setting, which is reported once already
        err(
            f"{path}.queue_max_wait.action",
            "alert needs timers.supervisor_room (the room, #channel or @user the alert is "
            "posted to); set it, or use action close or none",
            f"{path}.queue_max_wait",
        )


def _check_canned_placeholders(cfg: Config, err: Report) -> None:
    known = ", ".join(f"{{{{{name}}}}}" for name in PLACEHOLDERS)
    for i, canned in enumerate(cfg.canned):
        for match in _PLACEHOLDER.finditer(canned.text or ""):
            if match.group(1).lower() not in PLACEHOLDERS:
                err(
                    f"canned[{i}].text",
                    f"unknown placeholder {match.group(0)}; known: {known}",
                    f"canned[{i}]",
                )
