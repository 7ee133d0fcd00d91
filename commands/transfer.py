"""`/requeue` and `/forward`: hand a conversation back to the queue or to someone else."""

from __future__ import annotations

from bot.cmd import TEXT, Arg, Context, command
from bot.domain import State
from bot.services import notify
from commands.kit import (
    FORWARD_TARGET,
    HASH_NUMBER,
    answers_first,
    this_conversation,
)


@command(
    "requeue",
    aliases=("return", "unassign"),
    args=[Arg("number", HASH_NUMBER, required=False), Arg("comment", TEXT, required=False)],
    permission="view-l-room",
    help="Move this conversation back to the queue; you leave the room.",
    example="/requeue needs a billing specialist",
)
@answers_first
def requeue(ctx: Context) -> None:
    conv = this_conversation(ctx, ctx.args.number)
    after = ctx.services.transfers.requeue(ctx.user, conv.number, ctx.args.comment)
    if after.state is State.SERVING:
        ctx.reply(f"#{after.number} is back in the queue; @{after.agent} took it over.")
    else:
        ctx.reply(f"#{after.number} is back in the queue of {notify.where(after.department)}.")


@command(
    "forward",
    aliases=("transfer", "fwd"),
    args=[
        Arg("number", HASH_NUMBER, required=False),
        Arg("target", FORWARD_TARGET),
        Arg("comment", TEXT, required=False),
    ],
    permission="transfer-livechat-guest",
    help="Forward this conversation to an agent (@user) or a department.",
    example="/forward sales wants a quote",
)
@answers_first
def forward(ctx: Context) -> None:
    conv = this_conversation(ctx, ctx.args.number)
    kind, name = ctx.args.target
    comment = ctx.args.comment
    if kind == "user":
        after = ctx.services.transfers.forward_to_agent(ctx.user, conv.number, name, comment)
        ctx.reply(f"Forwarded #{after.number} to @{after.agent}.")
        return
    after = ctx.services.transfers.forward_to_department(ctx.user, conv.number, name, comment)
    if after.state is State.SERVING:
        ctx.reply(f"Forwarded #{after.number} to {name}: @{after.agent} has it now.")
    else:
        pos = ctx.services.queue.queue_position(after) or 1
        nobody = (
            ""
            if ctx.services.routing.router.eligible(name)
            else "; no agent there is available now"
        )
        ctx.reply(
            f"Forwarded #{after.number} to {name}: it waits in {name}'s queue "
            f"(position {pos}){nobody}."
        )
