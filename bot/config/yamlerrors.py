"""Turn a PyYAML syntax error into one line that points at the mistake, not where parsing stopped.

PyYAML reports the position where it gave up (`problem_mark`). For a construct left open (a `[`,
`{` or quote never closed) that is often many lines further down, or the end of the file; the
opening itself is in `context_mark`, and that is the line the admin must fix.
"""

from __future__ import annotations

import re

import yaml

# PyYAML's contexts for a construct that is opened and must be closed, with what closes it.
_UNCLOSED = {
    "while parsing a flow sequence": "this [ is not closed by a ]",
    "while parsing a flow mapping": "this { is not closed by a }",
    "while scanning a quoted scalar": "this quoted text has no closing quote",
}
_ENV_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}?")


def describe(exc: yaml.YAMLError, text: str, source: str) -> str:
    """`source:line: invalid YAML: …` for a syntax error in `text`."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"{source}: invalid YAML: {exc}"
    problem = exc.problem or exc.context or "malformed"
    context, stop = exc.context_mark, exc.problem_mark
    ref = _env_ref_at(text, stop) if "flow" in (exc.context or "") else None
    if ref is not None and stop is not None:
        # Inside [ ] or { } the `{` of `${VAR}` opens a nested mapping: the usual cause.
        return (
            f"{source}:{stop.line + 1}: invalid YAML: {ref} inside [ ] or {{ }} is read as YAML "
            f'braces; quote it ("{ref}") or write the value in block style'
        )
    opened = _UNCLOSED.get(exc.context or "")
    if opened and context is not None and stop is not None and context.line < stop.line:
        at_end = stop.line >= len(text.splitlines())
        gave_up = "the end of the file" if at_end else f"line {stop.line + 1}"
        return (
            f"{source}:{context.line + 1}: invalid YAML: {opened} "
            f"(the parser gave up at {gave_up}: {problem})"
        )
    mark = stop or context
    line = f":{mark.line + 1}" if mark else ""
    return f"{source}{line}: invalid YAML: {problem}"


def _env_ref_at(text: str, mark: yaml.Mark | None) -> str | None:
    """The `${VAR}` whose `{` is at `mark`, if that is where the parser stopped."""
    if mark is None or mark.column < 1:
        return None
    lines = text.splitlines()
    if mark.line >= len(lines):
        return None
    match = _ENV_REF.match(lines[mark.line], mark.column - 1)
    return match.group(0) if match else None
