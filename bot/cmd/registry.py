"""Command declarations, the registry, argument binding and usage lines.

A command declares its arguments once; the same declaration converts what the user typed, builds
the usage line and feeds `/help`:

    @command("close", args=[Arg("comment", TEXT, required=False)],
             options={"tags": TAGS}, flags={"pdf": None, "email": Flag(EMAIL)},
             permission="close-livechat-room", help="Close this conversation.")
    def close(ctx): ...

Positional words bind to `args` in order. An optional argument whose converter rejects the word
is skipped when later arguments remain (`/close [#N] [comment]` with `/close solved` gives a
comment, not an error). `key=value` and `+flag` may appear anywhere on the line.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Any

from bot.cmd.converters import WORD, Converter, did_you_mean
from bot.cmd.errors import BadArgument, MissingArgument, TooManyArguments
from bot.cmd.tokenizer import Token

ANYWHERE = "anywhere"
DM = "dm"
CONVERSATION = "conversation"
_PLACES = (ANYWHERE, DM, CONVERSATION)

Handler = Callable[[Any], Any]


@dataclass(frozen=True)
class Arg:
    """A positional argument."""

    name: str
    converter: Converter = WORD
    required: bool = True
    metavar: str | None = None
    help: str = ""

    @property
    def shown(self) -> str:
        return self.metavar or self.converter.metavar_for(self.name)

    def usage(self) -> str:
        return f"<{self.shown}>" if self.required else f"[{self.shown}]"


@dataclass(frozen=True)
class Option:
    """A `key=value` option; absent → `default`."""

    converter: Converter = WORD
    default: Any = None
    metavar: str | None = None
    help: str = ""

    def usage(self, key: str) -> str:
        return f"[{key}={self.metavar or self.converter.metavar_for(key)}]"


@dataclass(frozen=True)
class Flag:
    """A `+flag`; with a converter it also accepts `+flag=value`.

    Absent → False (plain flag) or None (flag with a value); bare `+flag` → True.
    """

    value: Converter | None = None
    value_required: bool = False
    metavar: str | None = None
    help: str = ""

    def usage(self, key: str) -> str:
        if self.value is None:
            return f"[+{key}]"
        shown = self.metavar or self.value.metavar_for(key)
        return f"[+{key}={shown}]" if self.value_required else f"[+{key}[={shown}]]"


class Args:
    """Converted arguments, options and flags with attribute access (`ctx.args.comment`)."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self.__dict__["_values"] = dict(values or {})

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"command has no argument, option or flag named {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__["_values"][name] = value

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__["_values"].get(name, default)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__["_values"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Args) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"Args({self.as_dict()!r})"


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    aliases: tuple[str, ...] = ()
    args: tuple[Arg, ...] = ()
    permission: tuple[str, ...] = ()  # any of these
    where: str = ANYWHERE
    help: str = ""
    example: str = ""
    options: Mapping[str, Option] = field(default_factory=dict)
    flags: Mapping[str, Flag] = field(default_factory=dict)
    hidden: bool = False
    #: for the support team: a contact's /help does not list it (its buttons' answers may
    #: still be open to everyone, like `/call join`)
    staff: bool = False

    @cached_property
    def summary(self) -> str:
        """The help's first line (worked out once: `/help` lists it for every command)."""
        return self.help.strip().splitlines()[0] if self.help.strip() else ""

    def usage(self, prefix: str = "/") -> str:
        parts = [f"{prefix}{self.name}"]
        parts += [a.usage() for a in self.args]
        parts += [o.usage(k) for k, o in self.options.items()]
        parts += [f.usage(k) for k, f in self.flags.items()]
        return " ".join(parts)

    def usable_in(self, room_kind: str) -> bool:
        return self.where == ANYWHERE or self.where == room_kind

    def allowed(self, user: Any, permissions: Any) -> bool:
        # a loop, not any(generator): `/help` asks this of every command on every call
        for permission in self.permission:
            if permissions.has(user, permission):
                return True
        return not self.permission

    def listed_for(self, user: Any, permissions: Any) -> bool:
        """Whether `/help` shows it to `user`: allowed, and not a staff command for a contact."""
        if self.hidden or not self.allowed(user, permissions):
            return False
        return not self.staff or is_staff(user, permissions)

    # --- binding ----------------------------------------------------------------------------
    def bind(self, tokens: Sequence[Token], line: str, ctx: Any) -> Args:
        """Convert the tokens after the command word into `Args` (raises `BadArgument`)."""
        has_rest = any(a.converter.rest for a in self.args)
        values: dict[str, Any] = {k: o.default for k, o in self.options.items()}
        values.update({k: (False if f.value is None else None) for k, f in self.flags.items()})
        positional: list[Token] = []
        for tok in tokens:
            if tok.kind == "option" and tok.key.lower() in self.options:
                key = tok.key.lower()
                values[key] = self.options[key].converter.convert(tok.value or "", ctx)
            elif tok.kind == "flag" and tok.key.lower() in self.flags:
                key = tok.key.lower()
                values[key] = self._flag_value(key, self.flags[key], tok, ctx)
            elif tok.kind != "word":
                self._unknown_option(tok, has_rest)
                positional.append(tok)
            else:
                positional.append(tok)
        values.update(self._bind_positional(positional, line, ctx))
        return Args(values)

    def _flag_value(self, key: str, flag: Flag, tok: Token, ctx: Any) -> Any:
        if tok.value is None:
            if flag.value_required:
                raise BadArgument(f"+{key} needs a value: {flag.usage(key)[1:-1]}.")
            return True
        if flag.value is None:
            raise BadArgument(f"+{key} takes no value.")
        return flag.value.convert(tok.value, ctx)

    def _unknown_option(self, tok: Token, has_rest: bool) -> None:
        """An undeclared `key=`/`+flag`: an error if it looks like a typo or cannot be text."""
        if tok.kind == "option":
            declared, shown = list(self.options), f"{tok.key}="
        else:
            declared, shown = list(self.flags), f"+{tok.key}"
        close = did_you_mean(tok.key, declared)
        if close:
            hint = f"{close[0]}=" if tok.kind == "option" else f"+{close[0]}"
            raise BadArgument(f"Unknown option {shown}. Did you mean {hint}?")
        if not has_rest:
            raise BadArgument(f"Unknown option {shown} for /{self.name}.")

    def _bind_positional(self, words: list[Token], line: str, ctx: Any) -> dict[str, Any]:
        values: dict[str, Any] = {}
        i = 0
        for index, arg in enumerate(self.args):
            if arg.converter.rest:
                rest = words[i:]
                i = len(words)
                if not rest:
                    if arg.required:
                        raise MissingArgument(f"Missing {arg.usage()}.")
                    values[arg.name] = None
                else:
                    values[arg.name] = arg.converter.convert(join_words(rest, line), ctx)
                continue
            if i >= len(words):
                if arg.required:
                    raise MissingArgument(f"Missing {arg.usage()}.")
                values[arg.name] = None
                continue
            try:
                values[arg.name] = arg.converter.convert(words[i].text, ctx)
                i += 1
            except BadArgument:
                if arg.required or index == len(self.args) - 1:
                    raise
                values[arg.name] = None  # leave the word for the next argument
        if i < len(words):
            raise TooManyArguments(f"Too many arguments: unexpected '{words[i].text}'.")
        return values


def join_words(words: Sequence[Token], line: str) -> str:
    """Join words of free text, keeping the whitespace typed between adjacent words."""
    out: list[str] = []
    prev: Token | None = None
    for tok in words:
        if prev is not None:
            gap = line[prev.end : tok.start]
            out.append(gap if gap and gap.isspace() else " ")
        out.append(tok.text)
        prev = tok
    return "".join(out)


def _normalize_flags(flags: Mapping[str, Flag | Converter | None] | None) -> dict[str, Flag]:
    out: dict[str, Flag] = {}
    for key, spec in (flags or {}).items():
        if spec is None:
            out[key.lower()] = Flag()
        elif isinstance(spec, Converter):
            out[key.lower()] = Flag(spec)
        else:
            out[key.lower()] = spec
    return out


def _normalize_options(options: Mapping[str, Option | Converter] | None) -> dict[str, Option]:
    return {
        k.lower(): (v if isinstance(v, Option) else Option(v)) for k, v in (options or {}).items()
    }


#: the permission every support role holds (agents, managers, monitors, admins) and no contact
STAFF_PERMISSION = "view-l-room"


def is_staff(user: Any, permissions: Any) -> bool:
    """Whether `user` is on the support team (not a contact or a visitor)."""
    return bool(permissions is not None and permissions.has(user, STAFF_PERMISSION))


def denied_text(user: Any, permissions: Any, shown: str) -> str:
    """Why `user` may not run the command `shown` (`/take`): a contact is told it is a staff
    command, not about permissions they could never have."""
    if is_staff(user, permissions):
        return f"You don't have permission to use {shown}."
    return f"{shown} is a command for support agents."


def make_command(
    name: str,
    handler: Handler,
    *,
    aliases: Iterable[str] = (),
    args: Iterable[Arg] = (),
    permission: str | Iterable[str] | None = None,
    where: str = ANYWHERE,
    help: str = "",
    example: str = "",
    options: Mapping[str, Option | Converter] | None = None,
    flags: Mapping[str, Flag | Converter | None] | None = None,
    hidden: bool = False,
    staff: bool = False,
) -> Command:
    if where not in _PLACES:
        raise ValueError(f"where must be one of {_PLACES}, got {where!r}")
    args = tuple(args)
    if any(a.converter.rest for a in args[:-1]):
        raise ValueError(f"/{name}: only the last argument may take the rest of the line")
    perms = (permission,) if isinstance(permission, str) else tuple(permission or ())
    return Command(
        name=name.lower(),
        handler=handler,
        aliases=tuple(a.lower() for a in aliases),
        args=args,
        permission=perms,
        where=where,
        help=help,
        example=example,
        options=_normalize_options(options),
        flags=_normalize_flags(flags),
        hidden=hidden,
        staff=staff,
    )


def command(name: str, **declaration: Any) -> Callable[[Handler], Handler]:
    """Declare a command on a module-level function; `Registry.add_module` collects it."""

    def decorate(fn: Handler) -> Handler:
        fn.__command__ = make_command(name, fn, **declaration)  # type: ignore[attr-defined]
        return fn

    return decorate


class Registry:
    """Commands by name and alias (case-insensitive)."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._aliases: dict[str, str] = {}
        self._in_order: tuple[Command, ...] | None = None  # sorted by name, until the next add
        #: bumped by every `add`: what was worked out from the commands (a listing) is stale
        self.version = 0

    def add(self, item: Command | Handler) -> Command:
        cmd = item if isinstance(item, Command) else item.__command__  # type: ignore[union-attr]
        for word in (cmd.name, *cmd.aliases):
            if word in self._commands or word in self._aliases:
                raise ValueError(f"command word {word!r} is declared twice")
        self._commands[cmd.name] = cmd
        self._in_order = None
        self.version += 1
        for alias in cmd.aliases:
            self._aliases[alias] = cmd.name
        return cmd

    def command(self, name: str, **declaration: Any) -> Callable[[Handler], Handler]:
        """Declare and register in one step (handy in tests)."""

        def decorate(fn: Handler) -> Handler:
            self.add(make_command(name, fn, **declaration))
            return fn

        return decorate

    def add_module(self, module: ModuleType) -> list[Command]:
        added = []
        for value in vars(module).values():
            cmd = getattr(value, "__command__", None)
            if isinstance(cmd, Command) and getattr(value, "__module__", None) == module.__name__:
                added.append(self.add(cmd))
        return added

    def load_package(self, package: str) -> list[Command]:
        """Import every module of `package` and register the commands it declares."""
        pkg = importlib.import_module(package)
        added = []
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                added += self.add_module(importlib.import_module(f"{package}.{info.name}"))
        return added

    def get(self, word: str) -> Command | None:
        word = word.lower()
        name = self._aliases.get(word, word)
        return self._commands.get(name)

    def __contains__(self, word: str) -> bool:
        return self.get(word) is not None

    def __iter__(self) -> Iterator[Command]:
        # sorted once, not on every walk: `/help` walks the registry several times per call
        if self._in_order is None:
            self._in_order = tuple(sorted(self._commands.values(), key=lambda c: c.name))
        return iter(self._in_order)

    def __len__(self) -> int:
        return len(self._commands)
