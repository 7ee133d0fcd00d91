"""What the command families share: finding "this conversation" (with the access check), the
caller as a `Viewer`, the `#N`, forward and `@contact` converters, and times in the caller's zone.

(Once two kits, the workflow's `commandkit` and the toolkit's `context`; merged as they were.)"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from bot.cmd import BadArgument, Context, Converter, WrongPlace
from bot.cmd.converters import HASH_NUMBER, configured_departments, conversation_number
from bot.cmd.runner import parse_invocation, prefixes_of
from bot.cmd.tokenizer import Token, tokenize
from bot.domain import Conversation, Permissions, Refused, Viewer, can_access
from bot.domain.text import did_you_mean
from bot.services.transitions import not_found

__all__ = [
    "HASH_NUMBER",
    "TARGET",
    "Target",
    "command_tokens",
    "contact_conversations",
    "conversation",
    "perms",
    "unknown_contact",
    "viewer",
    "visible_contact",
    "when",
    "zone",
]


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


FORWARD_TARGET = ForwardTarget()


def console_number(ctx: Context) -> int | None:
    """The conversation of the console thread the command was typed in (the agent's DM
    thread for it, `bot.services.console`): there `#N` may be left out."""
    conv = getattr(ctx, "conversation", None)
    return conv.number if conv is not None and ctx.room_kind == "dm" else None


def this_conversation(ctx: Context, number: int | None) -> Conversation:
    """The conversation a room command acts on: the room's own, or `#N` in the bot's DM."""
    if ctx.room_kind == "conversation":
        conv = ctx.conversation or ctx.services.queue.by_room(ctx.rid)
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
        number = number if number is not None else console_number(ctx)
        if number is None:
            name = ctx.command.name if ctx.command else "command"
            raise BadArgument(
                f"Which conversation? Here write {ctx.prefix}{name} #N, or use it in the "
                "conversation room."
            )
        conv = ctx.services.queue.get(number)
        if not ctx.services.queue.may_see(ctx.user, conv):
            raise not_found(number)  # another department's chat: as if there were none
        return conv
    name = ctx.command.name if ctx.command else "this command"
    raise WrongPlace(f"{ctx.prefix}{name} works only in a conversation room (or in my DM with #N).")


def answers_first(handler: Callable[[Context], None]) -> Callable[[Context], None]:
    """Run follow-ups (routing a freed slot, archiving) after the handler's answer."""

    @functools.wraps(handler)
    def wrapped(ctx: Context) -> None:
        with ctx.services.transitions.after_reply():
            handler(ctx)

    return wrapped


def viewer(ctx: Context) -> Viewer:
    return ctx.services.directory.viewer(ctx.user)


def perms(ctx: Context) -> Permissions:
    return ctx.services.directory.perms


def ensure(ctx: Context, permission: str, what: str) -> None:
    """Refuse unless the caller has `permission` (named, so the admin knows what to grant)."""
    if not perms(ctx).has(viewer(ctx).roles, permission):
        raise Refused(f"You don't have permission to {what} ({permission}).")


def conversation(ctx: Context, number: int | None) -> Conversation:
    """The conversation the command is about (this room's, or `#N`), if the caller may see it.

    Department isolation: a chat the caller may not access is answered like a missing one.
    """
    conv = this_conversation(ctx, number)
    if not can_access(conv, viewer(ctx), perms(ctx)):
        raise Refused(f"There is no conversation #{conv.number} you can see.", "error-not-found")
    return conv


def contact_conversations(ctx: Context, contact: str) -> list[Conversation]:
    """The contact's conversations the caller may see, newest first.

    Wider than `can_access` on purpose: history is about the contact (`contacts.history` needs
    only view-livechat-contact-history), so an agent sees the contact's past chats of the
    departments they belong to and of the public queue, plus any they took part in; managers
    (`view-livechat-rooms`) see all.
    """
    me = viewer(ctx)
    everything = perms(ctx).has(me.roles, "view-livechat-rooms")
    return [
        c
        for c in ctx.services.repo.for_contact(contact)
        if everything
        or c.department is None
        or c.department in me.departments
        or me.username in (c.agent, *c.previous_agents, *c.invited)
    ]


def unknown_contact(username: str) -> Refused:
    return Refused(f"I have never had a conversation with @{username}.", "error-not-found")


def visible_contact(ctx: Context, username: str) -> str:
    """`username` if the caller may see one of the contact's conversations (the rule of
    `contact_conversations`), else refused exactly as for a stranger: an agent must not learn
    another department's contacts."""
    if not contact_conversations(ctx, username):
        raise unknown_contact(username)
    return username


class Target(Converter):
    """`#12` (a conversation) → ("conversation", 12); `@carol` → ("contact", "carol")."""

    def convert(self, word: str, ctx: Any) -> tuple[str, Any]:
        number = conversation_number(word)
        if number is not None:
            return ("conversation", number)
        if word.startswith("@") and 1 < len(word) <= 65 and " " not in word:
            return ("contact", word[1:])
        raise BadArgument(f"'{word}' is neither #N nor @contact.")

    def metavar_for(self, name: str) -> str:
        return "#N|@contact"


TARGET = Target()


def contact_of(ctx: Context, target: tuple[str, Any] | None) -> tuple[str, Conversation | None]:
    """(contact username, the conversation in view) for `/contact` and `/history`."""
    if target is not None and target[0] == "contact":
        return target[1], None
    number = target[1] if target is not None else None
    if ctx.room_kind not in ("conversation", "dm"):
        name = ctx.command.name if ctx.command else "this command"
        raise WrongPlace(
            f"{ctx.prefix}{name} works in a conversation room, or in my DM with #N or @contact."
        )
    if ctx.room_kind == "dm" and number is None:
        number = console_number(ctx)
    if ctx.room_kind == "dm" and number is None:
        name = ctx.command.name if ctx.command else "command"
        raise BadArgument(
            f"Whose? Here write {ctx.prefix}{name} #N or {ctx.prefix}{name} @contact."
        )
    conv = conversation(ctx, number)
    return conv.contact_username, conv


def command_tokens(ctx: Context) -> list[Token]:
    """The command line's tokens after the command word, re-read from the message: for
    `key=value` pairs whose keys come from the config (contact fields)."""
    inv = parse_invocation(ctx.message.text, prefixes_of(ctx.config), ctx.registry, bare=True)
    return tokenize(inv.rest) if inv is not None else []


def command_rest(ctx: Context) -> str:
    inv = parse_invocation(ctx.message.text, prefixes_of(ctx.config), ctx.registry, bare=True)
    return inv.rest if inv is not None else ""


def zone(ctx: Context) -> tzinfo:
    """The caller's time zone from the server's `utcOffset` (UTC when unknown)."""
    offset = getattr(ctx.user, "utc_offset", None)
    if offset is None:
        return UTC
    return timezone(timedelta(hours=offset))


def when(value: datetime | None, tz: tzinfo) -> str:
    if value is None:
        return "—"
    local = value.astimezone(tz)
    name = local.strftime("%Z") if local.utcoffset() else "UTC"
    return f"{local:%Y-%m-%d %H:%M} {name}"
