"""The agent toolkit (issue 6): canned responses, room info and metrics, contact and history,
search, files and calls. The commands live in `commands/`; this package holds what they share
and the `!shortcut` hook (`install(app)`, after `bot.workflow.install(app)`)."""

from __future__ import annotations

from typing import Any


def install(app: Any) -> Any:
    """Wire the toolkit's message hooks into `app`; returns the canned expander."""
    from bot.toolkit.expand import install as install_canned

    return install_canned(app)


__all__ = ["install"]
