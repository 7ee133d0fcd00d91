"""`/help`: what this user may run here, and how to use one command."""

from __future__ import annotations

from collections.abc import Hashable

from bot.cmd import ANYWHERE, CONVERSATION, DM, WORD, Arg, Context, UnknownCommand, command
from bot.cmd.runner import suggestions
from bot.domain.bounded import BoundedCache

_WHERE = {
    ANYWHERE: "anywhere",
    DM: "only in a direct message with me",
    CONVERSATION: "only in a conversation room",
}
_ELSEWHERE = {DM: "In a direct message with me", CONVERSATION: "In conversation rooms"}


@command(
    "help",
    aliases=("h",),
    args=[Arg("command", WORD, required=False)],
    help="Show the commands you can use, or how to use one of them.",
    example="/help close",
)
def help_command(ctx: Context) -> None:
    if ctx.args.command:
        ctx.reply(_one(ctx, ctx.args.command))
    else:
        ctx.reply(_overview(ctx))


#: listings already written, by what they depend on (see `_overview`): a support team has a
#: few role sets, and working a listing out asks two dozen permission questions
_LISTINGS: BoundedCache[Hashable, str] = BoundedCache(256)


def _overview(ctx: Context) -> str:
    """The listing for what it depends on: the registry (and its version), the caller's
    permission profile, the room kind and the prefix."""
    registry = ctx.registry
    key = (registry, registry.version, ctx.permissions.profile(ctx.user), ctx.room_kind, ctx.prefix)
    text = _LISTINGS.get(key)
    if text is None:
        text = _LISTINGS[key] = _write_overview(ctx)
    return text


def _write_overview(ctx: Context) -> str:
    p = ctx.prefix
    mine = [c for c in ctx.registry if c.listed_for(ctx.user, ctx.permissions)]
    here = [c for c in mine if c.usable_in(ctx.room_kind)]
    lines = ["Commands you can use here:"]
    lines += [f"{p}{c.name}" + (f" — {c.summary}" if c.summary else "") for c in here]
    for place, title in _ELSEWHERE.items():
        there = [c for c in mine if c.where == place and not c.usable_in(ctx.room_kind)]
        if there:
            lines.append(f"{title}: " + ", ".join(f"{p}{c.name}" for c in there))
    lines.append(f"Type {p}help <command> for details.")
    return "\n".join(lines)


def _one(ctx: Context, word: str) -> str:
    p = ctx.prefix
    word = word.lstrip("/!")
    cmd = ctx.registry.get(word)
    if cmd is None or cmd.hidden:
        raise UnknownCommand(word, suggestions(ctx.registry, ctx, word), p)
    lines = [cmd.usage(p)]
    if cmd.help:
        lines.append(cmd.help.strip())
    if cmd.aliases:
        lines.append("Aliases: " + ", ".join(f"{p}{a}" for a in cmd.aliases))
    lines.append(f"Where: {_WHERE[cmd.where]}")
    if cmd.example:
        # examples are written with "/"; show them with the prefix this user typed
        example = p + cmd.example[1:] if cmd.example.startswith("/") else cmd.example
        lines.append(f"Example: {example}")
    if not cmd.allowed(ctx.user, ctx.permissions):
        lines.append("You don't have permission to use it.")
    return "\n".join(lines)
