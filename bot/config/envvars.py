"""`${NAME}` and `${NAME:-default}` in configuration values, from the environment.

`$$` is a literal `$`. An unset variable without a default is a problem of the value that names
it (the admin sees its file and line), never an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.config.problems import Invalid

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def expand(text: str, env: Mapping[str, str]) -> str:
    """`text` with every `${NAME}` replaced; Invalid when a variable is unset."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise Invalid(
            f"environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
        )

    return _ENV.sub(sub, text)
