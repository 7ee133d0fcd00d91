"""Load and validate `omnicat.yaml` up front, with errors that name file, line and key.

The YAML is composed into nodes (not loaded into dicts) so every value keeps its line. Validation
walks those nodes against the dataclasses of `bot.config.schema`, collecting every error instead of
stopping at the first, so an admin fixes a file in one round.

Here: the walk and the entry points. Beside it: `envvars.py` (`${ENV}`), `values.py` (a scalar
as its field's type), `checks.py` (the checks fields name), `crosschecks.py` (checks across
keys), `problems.py` (how a problem is told: file, line, key), `yamlerrors.py` (syntax errors).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from bot.config import envvars, yamlerrors
from bot.config.checks import check
from bot.config.crosschecks import cross_check
from bot.config.problems import Invalid, Problems
from bot.config.schema import Config
from bot.config.storeurl import with_store_password
from bot.config.values import convert

MAX_NODES = 100_000
STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"


class ConfigError(Exception):
    """The configuration is unusable; `errors` lists every problem found, one line each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class _Loader:
    """Walks the YAML nodes against the schema's dataclasses, recording every problem."""

    def __init__(self, source: str, env: Mapping[str, str]) -> None:
        self.problems = Problems(source)
        self.lines = self.problems.lines  # key path -> line, read by the checks after the walk
        self.env = env
        self.visits = 0
        self._scalars = yaml.constructor.SafeConstructor()

    # --- scalars ---------------------------------------------------------------------------

    def scalar(self, node: yaml.Node) -> tuple[Any, bool]:
        """The Python value of a scalar node, `${ENV}` interpolated; (value, from_env)."""
        if not isinstance(node, yaml.ScalarNode):
            kind = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
            raise Invalid(f"expected a single value, got {kind}")
        try:
            value = self._scalars.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise Invalid(f"unsupported YAML tag {node.tag}") from None
        if node.tag == STR and isinstance(value, str) and "$" in value:
            return envvars.expand(value, self.env), True
        return value, False

    # --- typed values ----------------------------------------------------------------------

    def value(self, tp: Any, node: yaml.Node, path: str, meta: Mapping[str, Any]) -> Any:
        # YAML aliases share nodes, so a small hostile file can expand exponentially.
        self.visits += 1
        if self.visits > MAX_NODES:
            raise Invalid(f"the file expands to more than {MAX_NODES} values (alias bomb?)")
        self.lines.setdefault(path, node.start_mark.line + 1)
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin in (types.UnionType, typing.Union):
            inner = [a for a in args if a is not type(None)]
            if node.tag == NULL or (
                isinstance(node, yaml.ScalarNode) and node.tag == STR and node.value == ""
            ):
                return None
            return self.value(inner[0], node, path, meta)
        if dataclasses.is_dataclass(tp):
            return self.section(tp, node, path)
        if origin is tuple:
            return self.sequence(args[0], node, path, meta)
        if origin in (Mapping, dict):
            return self.mapping(args[1], node, path, meta)
        raw, from_env = self.scalar(node)
        result = convert(tp, raw, from_env)
        check(meta, result)
        return result

    def sequence(self, item: Any, node: yaml.Node, path: str, meta: Mapping[str, Any]) -> tuple:
        if node.tag == NULL:
            return ()
        if isinstance(node, yaml.ScalarNode) and item is str:
            # `agents: alice` is a common slip for a one-item list; accept it.
            node = yaml.SequenceNode("tag:yaml.org,2002:seq", [node], node.start_mark)
        if not isinstance(node, yaml.SequenceNode):
            raise Invalid("expected a list")
        out = []
        for i, child in enumerate(node.value):
            sub = f"{path}[{i}]"
            try:
                out.append(self.value(item, child, sub, {}))
            except Invalid as exc:
                self.problems.at_node(child, sub, str(exc))
        result = tuple(out)
        check(meta, result)
        return result

    def mapping(
        self, item: Any, node: yaml.Node, path: str, meta: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        if node.tag == NULL:
            return MappingProxyType({})
        if not isinstance(node, yaml.MappingNode):
            raise Invalid("expected a mapping of name: settings")
        out: dict[str, Any] = {}
        for key_node, child in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not key:
                self.problems.at_node(key_node, path, "expected a non-empty name as key")
                continue
            sub = f"{path}.{key}"
            self.lines[sub] = key_node.start_mark.line + 1
            if key in out:
                self.problems.at_node(key_node, sub, "duplicate key")
                continue
            try:
                out[key] = self.value(item, child, sub, {})
            except Invalid as exc:
                self.problems.at_node(child, sub, str(exc))
        return MappingProxyType(out)

    def section(self, cls: type, node: yaml.Node, path: str) -> Any:
        fields = {
            (f.metadata.get("key") or f.name): f
            for f in dataclasses.fields(cls)
            if not f.metadata.get("internal")
        }
        hints = typing.get_type_hints(cls)
        if node.tag == NULL:
            node = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark)
        if not isinstance(node, yaml.MappingNode):
            raise Invalid(f"expected a mapping with keys {', '.join(fields)}")
        values: dict[str, Any] = {}
        seen: set[str] = set()
        for key_node, child in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            sub = f"{path}.{key}" if path else key
            if key in seen:
                self.problems.at_node(key_node, sub, "duplicate key")
                continue
            seen.add(key)
            # Cross-checks point at the key's line (a block value starts on the next one).
            self.lines[sub] = key_node.start_mark.line + 1
            f = fields.get(key)
            if f is None:
                self.problems.at_node(key_node, sub, _unknown(key, list(fields)))
                continue
            try:
                values[f.name] = self.value(hints[f.name], child, sub, f.metadata)
            except Invalid as exc:
                self.problems.at_node(child, sub, str(exc))
                values[f.name] = None  # keep going; the error is already recorded
        for key, f in fields.items():
            if f.metadata.get("check") == "required" and f.name not in values:
                sub = f"{path}.{key}" if path else key
                self.problems.at_node(node, sub, "required key is missing")
        kwargs = {k: v for k, v in values.items() if v is not None or _optional(hints[k])}
        return cls(**kwargs)


def _optional(tp: Any) -> bool:
    union = typing.get_origin(tp) in (types.UnionType, typing.Union)
    return union and type(None) in typing.get_args(tp)


def _unknown(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return f"unknown key; expected one of {', '.join(allowed)}"


# --- entry points ---------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate one YAML file; raise ConfigError listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc}"]) from None
    return parse_config(text, source, env)


def parse_config(
    text: str, source: str = "<config>", env: Mapping[str, str] | None = None
) -> Config:
    """Validate YAML text; `source` is the name errors show."""
    loader = _Loader(source, os.environ if env is None else env)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([yamlerrors.describe(exc, text, source)]) from None
    if root is None:
        raise ConfigError([f"{source}: the file is empty; at least `server` is required"])
    try:
        cfg = loader.section(Config, root, "")
    except Invalid as exc:
        raise ConfigError([f"{source}:{root.start_mark.line + 1}: {exc}"]) from None
    problems = loader.problems
    has_server = "server" in problems.lines
    if not has_server:
        problems.errors.append(f"{source}:1 server: required section is missing")
    cfg = dataclasses.replace(cfg, source=source)
    cfg = with_store_password(cfg, source, problems.lines, problems.errors)
    cross_check(cfg, problems, has_server)
    if problems.errors:
        raise ConfigError(problems.errors)
    return cfg
