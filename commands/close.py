"""`/close [comment] [tags=a,b] [+pdf] [+email[=address]]`."""

from __future__ import annotations

from bot.cmd import EMAIL, TAGS, TEXT, Arg, Context, Flag, command
from bot.workflow.commandkit import HASH_NUMBER, answers_first, this_conversation, workflow


@command(
    "close",
    aliases=("end",),
    args=[Arg("number", HASH_NUMBER, required=False), Arg("comment", TEXT, required=False)],
    options={"tags": TAGS},
    flags={"pdf": None, "email": Flag(EMAIL)},
    permission="close-livechat-room",
    help="Close this conversation with a comment and tags; +pdf / +email ask for a transcript.",
    example='/close "reset the password" tags=account +pdf',
)
@answers_first  # the room is archived after the answer: nobody can write there then
def close(ctx: Context) -> None:
    wf = workflow(ctx)
    conv = this_conversation(ctx, ctx.args.number)
    after = wf.close(
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
