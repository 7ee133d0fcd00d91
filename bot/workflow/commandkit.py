"""What the workflow's command modules share: finding "this conversation" and two converters."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from bot.cmd import BadArgument, Context, Converter, WrongPlace
from bot.cmd.converters import configured_departments, did_you_mean
from bot.omnichannel import Conversation, Refused
from bot.workflow.service import Workflow, not_found


class HashNumber(Converter):
    """`#12` only: in a room a bare number is more likely the start of a comment."""

    def convert(self, word: str, ctx: Any) -> int:
        digits = word[1:] if word.startswith("#") else ""
        if not digits.isdigit() or not digits.isascii() or len(digits) > 12 or int(digits) <= 0:
            raise BadArgument(f"'{word}' is not a conversation number (expected #N, e.g. #12).")
        return int(digits)

    def metavar_for(self, name: str) -> str:
        return "#N"


class ForwardTarget(Converter):
    """`@user` → ("user", name); `sales` → ("department", "sales")."""

    def convert(self, word: str, ctx: Any) -> tuple[str, str]:
        if word.startswith("@"):
            name = word[1:]
            if not name or len(name) > 64:
                raise BadArgument(f"'{word}' is not a username.")
            return ("user", name)
        known = configured_departments(getattr(ctx, "config", None))
        for dept in known:
            if dept.casefold() == word.casefold():
                return ("department", dept)
        reason = f"Unknown department '{word}'."
        close = did_you_mean(word, known)
        if close:
            reason += f" Did you mean {close[0]}?"
        elif known:
            reason += f" Known: {', '.join(known)}."
        raise BadArgument(reason + " For a person write @name.")

    def metavar_for(self, name: str) -> str:
        return "@user|department"


HASH_NUMBER = HashNumber()
FORWARD_TARGET = ForwardTarget()


def workflow(ctx: Context) -> Workflow:
    wf = getattr(ctx.services, "workflow", None)
    if wf is None:
        raise RuntimeError("the workflow is not installed (bot.workflow.install)")
    return wf


def this_conversation(ctx: Context, number: int | None) -> Conversation:
    """The conversation a room command acts on: the room's own, or `#N` in the bot's DM."""
    wf = workflow(ctx)
    if ctx.room_kind == "conversation":
        conv = ctx.conversation or wf.by_room(ctx.rid)
        if conv is None:
            raise Refused("This room has no conversation.", "error-invalid-room")
        if number is not None and number != conv.number:
            raise Refused(
                f"This room is conversation #{conv.number}; use #{number} in its own room "
                "or in my DM.",
                "error-invalid-room",
            )
        return conv
    if ctx.room_kind == "dm":
        if number is None:
            name = ctx.command.name if ctx.command else "command"
            raise BadArgument(
                f"Which conversation? Here write {ctx.prefix}{name} #N, or use it in the "
                "conversation room."
            )
        conv = wf.get(number)
        if not wf.may_see(ctx.user, conv):
            raise not_found(number)  # another department's chat: as if there were none
        return conv
    name = ctx.command.name if ctx.command else "this command"
    raise WrongPlace(f"{ctx.prefix}{name} works only in a conversation room (or in my DM with #N).")


def answers_first(handler: Callable[[Context], None]) -> Callable[[Context], None]:
    """Run follow-ups (routing a freed slot, archiving) after the handler's answer."""

    @functools.wraps(handler)
    def wrapped(ctx: Context) -> None:
        with workflow(ctx).after_reply():
            handler(ctx)

    return wrapped
