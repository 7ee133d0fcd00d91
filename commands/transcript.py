"""`/transcript pdf [#N]` and `/transcript email [#N] <address> [subject…]`."""

from __future__ import annotations

from bot.chat.errors import RocketChatError
from bot.cmd import EMAIL, TEXT, WORD, Arg, BadArgument, Choice, Context, MissingArgument, command
from bot.services.transcripts.delivery import TranscriptService
from bot.services.transcripts.email import mask_address
from bot.services.transcripts.requesting import EMAIL_PERMISSION, PDF_PERMISSION
from bot.store.transcripts import Job
from commands.kit import HASH_NUMBER, console_number, this_conversation


def transcripts(ctx: Context) -> TranscriptService:
    service = getattr(ctx.services, "transcripts", None)
    if service is None:
        raise RuntimeError("transcripts are not installed (bot.runtime.compose)")
    return service


def arrives(ctx: Context, service: TranscriptService, job: Job) -> str:
    """Where the PDF will arrive, as the answer says it: "here" when the answer goes there too
    (a staff requester's console thread for the conversation, else the DM's top level)."""
    try:
        place = service.requester_place(job)
    except RocketChatError:
        return "in our direct messages"
    if place == (ctx.answer_to or (ctx.rid, ctx.message.tmid)):
        return "here"
    return f"in our thread about #{job.number}" if place[1] else "in our direct messages"


@command(
    "transcript",
    args=[
        Arg("what", Choice("pdf", "email")),
        Arg("number", HASH_NUMBER, required=False),
        Arg("address", WORD, required=False),
        Arg("subject", TEXT, required=False),
    ],
    permission=(PDF_PERMISSION, EMAIL_PERMISSION),
    help="Get a conversation's transcript: `pdf` arrives as a direct message, in your thread "
    "for the conversation (closed "
    "conversations only; asking again sends the same file); `email` sends it to an address "
    "(now if closed, else when it closes).",
    example="/transcript email #12 maria@example.com Your chat with us",
)
def transcript(ctx: Context) -> None:
    service = transcripts(ctx)
    what = ctx.args.what
    if what == "pdf" and (ctx.args.address or ctx.args.subject):
        raise BadArgument(f"{ctx.prefix}transcript pdf takes only a conversation number.")
    if what == "email" and not ctx.args.address:
        raise MissingArgument(
            f"Missing address: {ctx.prefix}transcript email [#N] <address> [subject…]."
        )
    if ctx.room_kind == "dm" and ctx.args.number is None and console_number(ctx) is None:
        raise BadArgument(
            f"Which conversation? Here write {ctx.prefix}transcript {what} #N, or use it in "
            "the conversation room."
        )
    conv = this_conversation(ctx, ctx.args.number)
    if what == "pdf":
        job = service.prepare_pdf(ctx.user, conv.number)
        try:
            where = arrives(ctx, service, job)
            ctx.reply(f"Preparing the PDF transcript of #{conv.number}; it will arrive {where}.")
        finally:
            service.submit(job)
        return
    address = EMAIL.convert(ctx.args.address, ctx)
    job = service.prepare_email(ctx.user, conv.number, address, ctx.args.subject)
    if job is None:
        ctx.reply(
            f"Noted: I'll e-mail the transcript of #{conv.number} to {mask_address(address)} "
            "when the conversation closes."
        )
        return
    try:
        ctx.reply(
            f"Sending the transcript of #{conv.number} to {mask_address(address)}; "
            "I'll tell you in our direct messages how it went."
        )
    finally:
        service.submit(job)
