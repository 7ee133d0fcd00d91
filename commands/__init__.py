"""Command families, one module each. Every module here is imported by `load_commands`, so a new
family needs no registration beyond its `@command` declarations."""

from __future__ import annotations

from bot.cmd import Registry


def load_commands(registry: Registry | None = None) -> Registry:
    """A registry holding every command declared in the `commands` package."""
    registry = registry if registry is not None else Registry()
    registry.load_package(__name__)
    return registry
