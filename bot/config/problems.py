"""How a configuration problem is told: one line naming the file, the line and the key.

Every problem is collected (never raised at the first), so an admin fixes a file in one round.
`Invalid` is one wrong value; whoever walks the file catches it and records it at the value's
node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml


class Invalid(Exception):
    """One value is wrong; the message says what was expected."""


@dataclass
class Problems:
    """The problems found in one file, and the line of every key read (for later checks)."""

    source: str  # the file name the lines show
    lines: dict[str, int] = field(default_factory=dict)  # key path -> 1-based line
    errors: list[str] = field(default_factory=list)

    def at_node(self, node: yaml.Node | None, path: str, message: str) -> None:
        """`file:line path: message`, the line of the YAML node that is wrong."""
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        where = f" {path}" if path else ""
        self.errors.append(f"{self.source}{line}{where}: {message}")

    def at_key(self, path: str, message: str, parent: str | None = None) -> None:
        """`file:line path: message` for a check across keys: the line of `path`, else of
        `parent` (a key that is missing has no line of its own), else the file alone."""
        line = self.lines.get(path) or (self.lines.get(parent) if parent else None)
        prefix = f"{self.source}:{line}" if line else self.source
        self.errors.append(f"{prefix} {path}: {message}")
