"""`/hold` and `/resume`."""

from __future__ import annotations

from bot.cmd import Arg, Context, command
from commands.kit import HASH_NUMBER, answers_first, this_conversation


@command(
    "hold",
    args=[Arg("number", HASH_NUMBER, required=False)],
    permission="on-hold-livechat-room",
    help="Place this conversation on hold until the contact writes again.\n"
    "Held chats don't count toward your limit.",
)
@answers_first
def hold(ctx: Context) -> None:
    conv = this_conversation(ctx, ctx.args.number)
    after = ctx.services.conversations.hold(ctx.user, conv.number)
    ctx.reply(f"#{after.number} is on hold. I'll bring it back to you when the contact writes.")


@command(
    "resume",
    args=[Arg("number", HASH_NUMBER, required=False)],
    permission="view-l-room",
    help="Resume a conversation on hold (your chat limit applies again).",
)
def resume(ctx: Context) -> None:
    conv = this_conversation(ctx, ctx.args.number)
    after = ctx.services.conversations.resume(ctx.user, conv.number)
    ctx.reply(f"#{after.number} is resumed.")
