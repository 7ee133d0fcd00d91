"""`/invite @user`: bring another agent or a manager into this conversation."""

from __future__ import annotations

from bot.cmd import USER, Arg, Context, command
from commands.kit import HASH_NUMBER, this_conversation


@command(
    "invite",
    args=[Arg("number", HASH_NUMBER, required=False), Arg("user", USER)],
    permission="view-l-room",
    help="Invite an agent or manager into this conversation; who serves it does not change.",
    example="/invite @bob",
)
def invite(ctx: Context) -> None:
    conv = this_conversation(ctx, ctx.args.number)
    after = ctx.services.conversations.invite(ctx.user, conv.number, ctx.args.user)
    ctx.reply(f"@{ctx.args.user} is invited to #{after.number}.")
