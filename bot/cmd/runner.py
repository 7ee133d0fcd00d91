"""Recognising a command in a message and running it behind the one central error handler."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.cmd.context import Context
from bot.cmd.converters import did_you_mean
from bot.cmd.errors import (
    BadArgument,
    PermissionDenied,
    UnknownCommand,
    UserError,
    WrongPlace,
)
from bot.cmd.registry import CONVERSATION, DM, Command, Registry
from bot.cmd.tokenizer import tokenize
from bot.domain.errors import Refused

log = logging.getLogger("omnicat.commands")

_WORD = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)(?=\s|$)")


@dataclass(frozen=True, slots=True)
class Invocation:
    """A command word found in a message: `word` lowercased, `rest` the text after it."""

    word: str
    rest: str
    #: the prefix typed ("" for a bare word in the DM) and the one to show in replies
    prefix: str
    shown_prefix: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a command run ended: for metrics and tests."""

    command: str | None
    status: str  # ok | bad_argument | unknown | denied | wrong_place | refused | user_error | error
    reply: str | None = None
    ref: str | None = None


def prefixes_of(config: Any) -> tuple[str, ...]:
    prefixes = getattr(getattr(config, "commands", None), "prefixes", None)
    return tuple(prefixes) if prefixes else ("/",)


def parse_invocation(
    text: str, prefixes: Sequence[str], registry: Registry | None = None, *, bare: bool = False
) -> Invocation | None:
    """The command in `text`, or None when the text is not a command.

    With `bare` (the bot's DM) a line without a prefix is a command only when its first word is a
    known command or alias: anything else may be a contact writing for help.
    """
    stripped = text.lstrip()
    shown = prefixes[0] if prefixes else "/"
    for prefix in sorted(prefixes, key=len, reverse=True):
        if stripped[: len(prefix)].casefold() == prefix.casefold():
            after = stripped[len(prefix) :]
            match = _WORD.match(after)
            if not match:
                # "/path/to/file", "/ hello", ":)" are text, not commands
                return None
            return Invocation(match.group(1).lower(), after[match.end() :], prefix, prefix)
    if bare and registry is not None:
        match = _WORD.match(stripped)
        if match and match.group(1) in registry:
            return Invocation(match.group(1).lower(), stripped[match.end() :], "", shown)
    return None


def suggestions(registry: Registry, ctx: Context, word: str) -> list[str]:
    """Command words close to `word` among those this user may run."""
    by_word: dict[str, str] = {}
    for cmd in registry:
        if not cmd.hidden and cmd.allowed(ctx.user, ctx.permissions):
            for w in (cmd.name, *cmd.aliases):
                by_word[w] = cmd.name
    seen: set[str] = set()
    out = []
    for w in did_you_mean(word, list(by_word), n=3):
        if by_word[w] not in seen:
            seen.add(by_word[w])
            out.append(w)
    return out[:2]


def where_text(cmd: Command, prefix: str) -> str:
    if cmd.where == DM:
        return f"{prefix}{cmd.name} works only in a direct message with me."
    if cmd.where == CONVERSATION:
        return f"{prefix}{cmd.name} works only in a conversation room."
    return f"{prefix}{cmd.name} cannot be used here."


_STATUS = (
    (BadArgument, "bad_argument"),
    (UnknownCommand, "unknown"),
    (PermissionDenied, "denied"),
    (WrongPlace, "wrong_place"),
    (Refused, "refused"),
    (UserError, "user_error"),
)


def run_command(
    registry: Registry,
    ctx: Context,
    text: str,
    invocation: Invocation | None = None,
    *,
    prepare: Callable[[Context], None] | None = None,
    admit: Callable[[Context], bool] | None = None,
) -> Outcome:
    """Run the command in `text` for `ctx`; the user gets one reply line on any failure.

    User errors become their reason (plus `Usage: …` for argument errors); anything else becomes
    "Something went wrong (ref …)." with the traceback logged at ERROR under the same ref.
    `prepare(ctx)` (the workflow's: finds `ctx.conversation`) runs after the arguments are
    bound, under the same error handling.

    A bare word in the DM (no prefix) is only a command if this user may run it here with these
    arguments: "help me please" or "hold on" from a contact is a message for intake, so then
    nothing is answered and the status is `not_a_command`. `admit(ctx)` (the rate limit) runs
    once the command is known to be valid; False ends the run as `rate_limited`.
    """
    inv = invocation or parse_invocation(
        text, prefixes_of(ctx.config), registry, bare=ctx.room_kind == DM
    )
    if inv is None:
        return Outcome(None, "not_a_command")
    ctx.prefix = inv.shown_prefix
    if ctx.registry is None:
        ctx.registry = registry
    cmd = registry.get(inv.word)
    try:
        if cmd is None:
            raise UnknownCommand(inv.word, suggestions(registry, ctx, inv.word), inv.shown_prefix)
        ctx.command = cmd
        if not cmd.allowed(ctx.user, ctx.permissions):
            raise PermissionDenied(
                f"You don't have permission to use {inv.shown_prefix}{cmd.name}."
            )
        if not cmd.usable_in(ctx.room_kind):
            raise WrongPlace(where_text(cmd, inv.shown_prefix))
        ctx.args = cmd.bind(tokenize(inv.rest), inv.rest, ctx)
    except (PermissionDenied, WrongPlace, BadArgument) as exc:
        if inv.prefix == "":
            return Outcome(None, "not_a_command")
        return _user_error(ctx, cmd, inv, exc)
    except (UserError, Refused) as exc:
        return _user_error(ctx, cmd, inv, exc)
    if admit is not None and not admit(ctx):
        return Outcome(cmd.name, "rate_limited")
    try:
        if prepare is not None:
            prepare(ctx)
        cmd.handler(ctx)
    except (UserError, Refused) as exc:
        # the domain's refusals are user errors too: their reason is written for the user
        return _user_error(ctx, cmd, inv, exc)
    except Exception:
        ref = secrets.token_hex(3)
        log.error(
            "command %s by @%s in %s failed (ref %s): %.200r",
            cmd.name if cmd else inv.word,
            ctx.user.username,
            ctx.rid,
            ref,
            text,
            exc_info=True,
        )
        reply = f"Something went wrong (ref {ref})."
        _safe_reply(ctx, reply)
        return Outcome(cmd.name if cmd else None, "error", reply, ref)
    return Outcome(cmd.name, "ok")


def _user_error(
    ctx: Context, cmd: Command | None, inv: Invocation, exc: UserError | Refused
) -> Outcome:
    reply = exc.reason
    if getattr(exc, "show_usage", False) and cmd is not None:
        reply += f"\nUsage: {cmd.usage(inv.shown_prefix)}"
    status = next(s for kind, s in _STATUS if isinstance(exc, kind))
    _safe_reply(ctx, reply)
    return Outcome(cmd.name if cmd else None, status, reply)


def _safe_reply(ctx: Context, text: str) -> None:
    try:
        ctx.reply(text)
    except Exception:
        log.warning("could not deliver a reply in %s", ctx.rid, exc_info=True)
