"""`/close [comment] [tags=a,b] [+pdf] [+email[=address]]`.

Agents close with `close-livechat-room` (others' chats with `close-others-livechat-room`). The
contact may close their own conversation too (`close.allow_contacts`, Rocket.Chat's
`Omnichannel_allow_visitors_to_close_conversation`): `/close [comment]` in its room, or in their
DM with the bot. A contact's close needs no comment or tags and asks for no transcript; the
serving agent's preferences still deliver theirs (the close hook does not care who closed).

So the permission is checked in the handler, after "is this the caller's own conversation?",
not by `permission=`: the registry's check cannot know whose conversation it is.
"""

from __future__ import annotations

from typing import Any

from bot.cmd import (
    EMAIL,
    TAGS,
    Arg,
    BadArgument,
    Context,
    Flag,
    PermissionDenied,
    command,
    parse_invocation,
    prefixes_of,
)
from bot.cmd.converters import Text
from bot.cmd.registry import denied_text
from bot.domain import CONTACT, Conversation, Refused, State
from bot.services import notify
from commands.kit import HASH_NUMBER, answers_first, this_conversation

AGENT_PERMISSION = "close-livechat-room"
CONTACT_COMMENT = notify.CONTACT_CLOSE_COMMENT
CONTACTS_MAY_NOT = (
    "Only the support team can close conversations here; tell them in the conversation "
    "when you're done."
)


def _typed_bare(ctx: Any) -> bool:
    """A DM line without the prefix ("close my account please")."""
    message = getattr(ctx, "message", None)
    text = getattr(message, "text", None) or ""
    return parse_invocation(text, prefixes_of(ctx.config)) is None


def _is_agent(ctx: Any) -> bool:
    permissions = getattr(ctx, "permissions", None)
    return permissions is not None and permissions.has(ctx.user, AGENT_PERMISSION)


class Comment(Text):
    """The comment; a contact's unprefixed DM line starting with "close"/"end" is no command
    (then the line goes to intake: it may be the question that opens their case)."""

    def convert(self, word: str, ctx: Any) -> str:
        if getattr(ctx, "room_kind", None) == "dm" and _typed_bare(ctx) and not _is_agent(ctx):
            raise BadArgument("not a command")
        return word


@command(
    "close",
    aliases=("end",),
    args=[Arg("number", HASH_NUMBER, required=False), Arg("comment", Comment(), required=False)],
    options={"tags": TAGS},
    flags={"pdf": None, "email": Flag(EMAIL)},
    help="Close this conversation with a comment and tags; +pdf / +email ask for a transcript. "
    "The contact may close their own conversation: /close [comment].",
    example='/close "reset the password" tags=account +pdf',
)
@answers_first  # the room is archived after the answer: nobody can write there then
def close(ctx: Context) -> None:
    own = _contacts_own(ctx)
    if own is not None:
        _close_as_contact(ctx, own)
        return
    if not _is_agent(ctx):
        raise PermissionDenied(denied_text(ctx.user, ctx.permissions, f"{ctx.prefix}close"))
    conv = this_conversation(ctx, ctx.args.number)
    after = ctx.services.conversations.close(
        ctx.user,
        conv.number,
        ctx.args.comment,
        tags=ctx.args.tags or (),
        pdf=bool(ctx.args.pdf),
        email=ctx.args.email,
    )
    extras = []
    if after.transcript_pdf:
        extras.append("a PDF transcript")
    if after.transcript_email:
        extras.append(f"an e-mail transcript to {after.transcript_email}")
    tail = f" I'll send {' and '.join(extras)}." if extras else ""
    ctx.reply(f"#{after.number} is closed.{tail}")


def _contacts_own(ctx: Context) -> Conversation | None:
    """The open conversation the caller is the contact of, if `/close` is about it: the room's
    own, or in the DM their open one (or `#N` naming it)."""
    me = ctx.user.username
    number = ctx.args.number
    if ctx.room_kind == "conversation":
        conv = getattr(ctx, "conversation", None) or ctx.services.queue.by_room(ctx.rid)
    elif ctx.room_kind == "dm":
        conv = ctx.services.repo.open_for_contact(me)
    else:
        return None
    if conv is None or conv.contact_username != me or conv.state is State.CLOSED:
        return None
    if number is not None and number != conv.number:
        return None  # another conversation: the agent path decides (and refuses)
    return conv


def _close_as_contact(ctx: Context, conv: Conversation) -> None:
    if ctx.room_kind == "dm" and _typed_bare(ctx):
        # "close" alone in the DM: closing is not undone, so only the typed command does it
        ctx.reply(f"To close conversation #{conv.number}, type {ctx.prefix}close.")
        return
    if not ctx.config.close.allow_contacts:
        raise Refused(CONTACTS_MAY_NOT, "error-not-allowed")
    if ctx.args.tags or ctx.args.pdf or ctx.args.email:
        raise Refused(
            f"You can close with a comment only: {ctx.prefix}close [comment].", "error-not-allowed"
        )
    me = ctx.user.username
    comment = ctx.args.comment or CONTACT_COMMENT
    with ctx.services.transitions.serial(conv.number):
        before, (after, _event) = ctx.services.transitions.transition(
            conv.number, lambda c: c.close(me, ctx.services.clock(), comment, closer=CONTACT)
        )
        # note, close hooks (transcripts), archive, the contact's DM
        ctx.services.effects.finish_close(after, me)
    if before.agent and before.state is State.SERVING:
        ctx.services.transitions.later(ctx.services.routing.agent_freed, before.agent)
    if ctx.room_kind == "conversation":
        # in the DM the close's own message ("Your conversation #N is closed…") answers
        ctx.reply(f"#{after.number} is closed. Thank you for contacting us.")
