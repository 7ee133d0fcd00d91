"""Load and validate `omnicat.yaml` up front, with errors that name file, line and key.

The YAML is composed into nodes (not loaded into dicts) so every value keeps its line. Validation
walks those nodes against the dataclasses of `bot.config.schema`, collecting every error instead of
stopping at the first, so an admin fixes a file in one round.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.config import yamlerrors
from bot.config.schema import (
    Agent,
    Calls,
    Canned,
    ChannelIntake,
    Close,
    Commands,
    Config,
    ContactField,
    Contacts,
    Department,
    DepartmentTimers,
    DmIntake,
    Email,
    Fonts,
    Hold,
    Http,
    Intake,
    LivechatIntake,
    Log,
    PermissionOverrides,
    RateLimit,
    RoutingConfig,
    Server,
    StoreConfig,
    Timers,
    Transcripts,
)
from bot.config.storeurl import with_store_password
from bot.config.usability import check_usable

__all__ = [
    "Agent",
    "Calls",
    "Canned",
    "ChannelIntake",
    "Close",
    "Commands",
    "Config",
    "ConfigError",
    "ContactField",
    "Contacts",
    "Department",
    "DepartmentTimers",
    "DmIntake",
    "Email",
    "Fonts",
    "Hold",
    "Http",
    "Intake",
    "LivechatIntake",
    "Log",
    "PermissionOverrides",
    "RateLimit",
    "RoutingConfig",
    "Server",
    "StoreConfig",
    "Timers",
    "Transcripts",
    "load_config",
    "parse_duration",
]

MAX_NODES = 100_000
STR = "tag:yaml.org,2002:str"
NULL = "tag:yaml.org,2002:null"


class ConfigError(Exception):
    """The configuration is unusable; `errors` lists every problem found, one line each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str | int) -> timedelta:
    """`30s`, `30m`, `1h`, `1h30m`, `2d`, `0` as a timedelta; ValueError otherwise."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(text)  # `after:` left empty is None: a wrong value, not a crash
    if isinstance(text, int):
        if text == 0:
            return timedelta(0)
        raise ValueError(text)
    text = text.strip().lower().replace(" ", "")
    if text == "0":
        return timedelta(0)
    match = _DURATION.match(text)
    if not text or not match:
        raise ValueError(text)
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


class _Invalid(Exception):
    """One value is wrong; the message says what was expected."""


class _Loader:
    def __init__(self, source: str, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.errors: list[str] = []
        self.lines: dict[str, int] = {}
        self.visits = 0
        self._scalars = yaml.constructor.SafeConstructor()

    # --- reporting -------------------------------------------------------------------------

    def error(self, node: yaml.Node | None, path: str, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        where = f" {path}" if path else ""
        self.errors.append(f"{self.source}{line}{where}: {message}")

    # --- scalars ---------------------------------------------------------------------------

    def scalar(self, node: yaml.Node, path: str) -> tuple[Any, bool]:
        """The Python value of a scalar node, `${ENV}` interpolated; (value, from_env)."""
        if not isinstance(node, yaml.ScalarNode):
            kind = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
            raise _Invalid(f"expected a single value, got {kind}")
        try:
            value = self._scalars.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise _Invalid(f"unsupported YAML tag {node.tag}") from None
        if node.tag == STR and isinstance(value, str) and "$" in value:
            return self.interpolate(value, node, path), True
        return value, False

    def interpolate(self, text: str, node: yaml.Node, path: str) -> str:
        def sub(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            raise _Invalid(
                f"environment variable {name} is not set "
                f"(write ${{{name}:-default}} to give a default)"
            )

        return _ENV.sub(sub, text)

    # --- typed values ----------------------------------------------------------------------

    def value(self, tp: Any, node: yaml.Node, path: str, meta: Mapping[str, Any]) -> Any:
        # YAML aliases share nodes, so a small hostile file can expand exponentially.
        self.visits += 1
        if self.visits > MAX_NODES:
            raise _Invalid(f"the file expands to more than {MAX_NODES} values (alias bomb?)")
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
        raw, from_env = self.scalar(node, path)
        result = self.convert(tp, raw, from_env)
        self.check(meta, result, path)
        return result

    def convert(self, tp: Any, raw: Any, from_env: bool) -> Any:
        if typing.get_origin(tp) is typing.Literal:
            choices = typing.get_args(tp)
            candidate = raw.upper() if isinstance(raw, str) and "DEBUG" in choices else raw
            if candidate in choices:
                return candidate
            raise _Invalid(f"expected one of {', '.join(choices)}, got {raw!r}")
        if tp is bool:
            if from_env and isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            if isinstance(raw, bool):
                return raw
            raise _Invalid(f"expected true or false, got {raw!r}")
        if tp is int:
            if from_env and isinstance(raw, str) and raw.strip().isdigit():
                return int(raw)
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            raise _Invalid(f"expected a whole number, got {raw!r}")
        if tp is float:
            if from_env and isinstance(raw, str):
                try:
                    return float(raw)
                except ValueError:
                    pass
            if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
                return float(raw)
            raise _Invalid(f"expected a number, got {raw!r}")
        if tp is timedelta:
            try:
                return parse_duration(raw)
            except (ValueError, TypeError):
                raise _Invalid(
                    f"expected a duration like 30s, 30m, 1h, 1h30m or 0, got {raw!r}"
                ) from None
        if tp is str:
            if isinstance(raw, bool) or raw is None or isinstance(raw, list | dict):
                raise _Invalid(f"expected text, got {raw!r}")
            # Unquoted numbers are fine as text (a room name `2024`, a port in a URL).
            return str(raw)
        raise TypeError(f"unsupported config type {tp!r}")  # a schema bug, not user input

    def check(self, meta: Mapping[str, Any], value: Any, path: str) -> None:
        minimum = meta.get("min")
        if minimum is not None and isinstance(value, int) and value < minimum:
            raise _Invalid(f"expected a number >= {minimum}, got {value}")
        name = meta.get("check")
        if name and name != "required" and value is not None:
            _CHECKS[name](value)

    def sequence(self, item: Any, node: yaml.Node, path: str, meta: Mapping[str, Any]) -> tuple:
        if node.tag == NULL:
            return ()
        if isinstance(node, yaml.ScalarNode) and item is str:
            # `agents: alice` is a common slip for a one-item list; accept it.
            node = yaml.SequenceNode("tag:yaml.org,2002:seq", [node], node.start_mark)
        if not isinstance(node, yaml.SequenceNode):
            raise _Invalid("expected a list")
        out = []
        for i, child in enumerate(node.value):
            sub = f"{path}[{i}]"
            try:
                out.append(self.value(item, child, sub, {}))
            except _Invalid as exc:
                self.error(child, sub, str(exc))
        result = tuple(out)
        self.check(meta, result, path)
        return result

    def mapping(
        self, item: Any, node: yaml.Node, path: str, meta: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        if node.tag == NULL:
            return MappingProxyType({})
        if not isinstance(node, yaml.MappingNode):
            raise _Invalid("expected a mapping of name: settings")
        out: dict[str, Any] = {}
        for key_node, child in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not key:
                self.error(key_node, path, "expected a non-empty name as key")
                continue
            sub = f"{path}.{key}"
            self.lines[sub] = key_node.start_mark.line + 1
            if key in out:
                self.error(key_node, sub, "duplicate key")
                continue
            try:
                out[key] = self.value(item, child, sub, {})
            except _Invalid as exc:
                self.error(child, sub, str(exc))
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
            raise _Invalid(f"expected a mapping with keys {', '.join(fields)}")
        values: dict[str, Any] = {}
        seen: set[str] = set()
        for key_node, child in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            sub = f"{path}.{key}" if path else key
            if key in seen:
                self.error(key_node, sub, "duplicate key")
                continue
            seen.add(key)
            # Cross-checks point at the key's line (a block value starts on the next one).
            self.lines[sub] = key_node.start_mark.line + 1
            f = fields.get(key)
            if f is None:
                self.error(key_node, sub, _unknown(key, list(fields)))
                continue
            try:
                values[f.name] = self.value(hints[f.name], child, sub, f.metadata)
            except _Invalid as exc:
                self.error(child, sub, str(exc))
                values[f.name] = None  # keep going; the error is already recorded
        for key, f in fields.items():
            if f.metadata.get("check") == "required" and f.name not in values:
                sub = f"{path}.{key}" if path else key
                self.error(node, sub, "required key is missing")
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


# --- extra checks named in field metadata ---------------------------------------------------


def _check_http_url(value: str) -> None:
    if not re.match(r"^https?://[^\s/]+", value):
        raise _Invalid(f"expected an http:// or https:// URL, got {value!r}")


def _check_positive(value: float) -> None:
    if value <= 0:
        raise _Invalid(f"expected a number > 0, got {value:g}")


def _check_listen(value: str) -> None:
    if not value:
        return  # `${OMNICAT_HTTP_LISTEN:-}` unset: off, like an empty value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _Invalid(f"expected host:port like 127.0.0.1:9090, got {value!r}")


def _check_prefixes(value: tuple[str, ...]) -> None:
    if not value:
        raise _Invalid("expected at least one prefix")
    for prefix in value:
        if not prefix or any(c.isspace() for c in prefix):
            raise _Invalid(f"expected prefixes without spaces, got {prefix!r}")


def _check_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid(f"expected a time zone name like UTC or Europe/Berlin, got {value!r}")


def _check_clock_time(value: str) -> None:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise _Invalid(f"expected a time of day like 08:00 (24 h), got {value!r}")


def _check_regex(value: str) -> None:
    import re2  # the same engine that will run it: safe against hostile patterns

    options = re2.Options()
    options.log_errors = False  # else RE2 writes its own copy of the error to stderr
    try:
        re2.compile(value, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise _Invalid(f"expected a regular expression (RE2 syntax): {reason}") from None


def _check_shortcut(value: str) -> None:
    if not re.fullmatch(r"!?[\w.-]+", value):
        raise _Invalid(f"expected a shortcut word like 'greeting', got {value!r}")


def _check_scope(value: str) -> None:
    if value != "global" and not re.fullmatch(r"department:\S+", value):
        raise _Invalid(f"expected global or department:<name>, got {value!r}")


def _check_room_name(value: str) -> None:
    try:
        value.format(number=1, contact="x", department="d")
    except (KeyError, IndexError, ValueError) as exc:
        raise _Invalid(
            f"expected a name template using {{number}}, {{contact}}, {{department}}: {exc!r}"
        )


_CHECKS = {
    "http_url": _check_http_url,
    "listen": _check_listen,
    "positive": _check_positive,
    "prefixes": _check_prefixes,
    "timezone": _check_timezone,
    "clock_time": _check_clock_time,
    "regex": _check_regex,
    "shortcut": _check_shortcut,
    "scope": _check_scope,
    "room_name": _check_room_name,
}


# --- cross-checks --------------------------------------------------------------------------


def _cross_check(cfg: Config, loader: _Loader, server_node: bool) -> None:
    def err(path: str, message: str, parent: str | None = None) -> None:
        line = loader.lines.get(path) or (loader.lines.get(parent) if parent else None)
        prefix = f"{loader.source}:{line}" if line else loader.source
        loader.errors.append(f"{prefix} {path}: {message}")

    if server_node:
        s = cfg.server
        by_password = bool(s.username or s.password)
        by_token = bool(s.user_id or s.token)
        if by_password and by_token:
            err("server", "give either username + password or user_id + token, not both")
        elif not by_password and not by_token:
            err("server", "expected username + password or user_id + token")
        elif by_password and not (s.username and s.password):
            missing = "password" if s.username else "username"
            err(
                f"server.{missing}",
                "required with " + ("username" if s.username else "password"),
                "server",
            )
        elif by_token and not (s.user_id and s.token):
            missing = "token" if s.user_id else "user_id"
            err(
                f"server.{missing}",
                "required with " + ("user_id" if s.user_id else "token"),
                "server",
            )

    if cfg.ha.enabled:
        if not cfg.store.url.startswith(("postgresql", "postgres:")):
            err(
                "ha.enabled",
                "needs a PostgreSQL store.url (postgresql+psycopg://…): instances on "
                "several machines cannot share one SQLite file",
                "ha",
            )
        ttl, beat = cfg.ha.lease_ttl.total_seconds(), cfg.ha.heartbeat.total_seconds()
        if beat <= 0 or beat * 2 > ttl:
            err("ha.heartbeat", "must be positive and at most half of ha.lease_ttl", "ha")

    _check_rate_limit(cfg, loader, err)

    names = set(cfg.departments)

    def known(path: str, value: str | None) -> None:
        if value is not None and value not in names:
            hint = difflib.get_close_matches(value, sorted(names), n=1)
            more = (
                f"; did you mean '{hint[0]}'?"
                if hint
                else (
                    f"; known departments: {', '.join(sorted(names))}"
                    if names
                    else "; no departments are configured"
                )
            )
            err(path, f"unknown department {value!r}{more}")

    for name, dept in cfg.departments.items():
        known(f"departments.{name}.fallback", dept.fallback)
        if dept.fallback == name:
            err(f"departments.{name}.fallback", "a department cannot fall back to itself")
        for i, target in enumerate(dept.forward_to):
            known(f"departments.{name}.forward_to[{i}]", target)
        if dept.require_tags and not dept.closing_tags:
            err(f"departments.{name}.require_tags", "requires closing_tags to list the tags")
    known("intake.dm.department", cfg.intake.dm.department)
    for i, channel in enumerate(cfg.intake.channels):
        known(f"intake.channels[{i}].department", channel.department)
    known("intake.livechat.department", cfg.intake.livechat.department)
    for rc_department, target in cfg.intake.livechat.departments.items():
        known(f"intake.livechat.departments.{rc_department}", target)
    shortcuts: dict[str, int] = {}
    for i, canned in enumerate(cfg.canned):
        if canned.scope.startswith("department:"):
            known(f"canned[{i}].scope", canned.scope.partition(":")[2])
        if not canned.shortcut:  # already reported as invalid or missing
            continue
        key = canned.shortcut.lstrip("!").lower()
        if key in shortcuts:
            err(f"canned[{i}].shortcut", f"duplicate shortcut (also canned[{shortcuts[key]}])")
        shortcuts[key] = i
    check_usable(cfg, err)
    if cfg.calls.provider == "template" and not cfg.calls.url_template:
        err("calls.url_template", "required when calls.provider is template", "calls")
    email = cfg.transcripts.email
    if email.host and not email.from_:
        err(
            "transcripts.email.from",
            "required when transcripts.email.host is set",
            "transcripts.email",
        )


def _check_rate_limit(cfg: Config, loader: _Loader, err: Callable[..., None]) -> None:
    """`commands.rate_limit` in one spelling: burst + per_second, or the older count + per."""
    path = "commands.rate_limit"
    if any(f" {path}." in error for error in loader.errors):
        return  # one problem at a time: a key that did not parse is reported already
    given = {
        key for key in ("burst", "per_second", "count", "per") if f"{path}.{key}" in loader.lines
    }
    if given & {"count", "per"} and given & {"burst", "per_second"}:
        err(
            f"{path}.count" if "count" in given else f"{path}.per",
            "give burst + per_second, or the older count + per, not both",
            path,
        )
    elif "per" in given and "count" not in given:
        err(f"{path}.per", "goes with count; better: burst (at once) + per_second", path)
    elif "count" in given:
        limit = cfg.commands.rate_limit
        if limit.count and limit.per is not None and limit.per.total_seconds() <= 0:
            err(f"{path}.per", "expected more than 0s with a count above 0", path)


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
    except _Invalid as exc:
        raise ConfigError([f"{source}:{root.start_mark.line + 1}: {exc}"]) from None
    has_server = "server" in loader.lines
    if not has_server:
        loader.errors.append(f"{source}:1 server: required section is missing")
    cfg = dataclasses.replace(cfg, source=source)
    cfg = with_store_password(cfg, source, loader.lines, loader.errors)
    _cross_check(cfg, loader, has_server)
    if loader.errors:
        raise ConfigError(loader.errors)
    return cfg
