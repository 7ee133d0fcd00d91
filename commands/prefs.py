"""`/prefs`, `/prefs transcript-pdf on|off`, `/prefs transcript-email on|off`."""

from __future__ import annotations

from bot.cmd import Arg, Choice, Context, MissingArgument, PermissionDenied, command
from bot.services.transcripts.requesting import EMAIL_PERMISSION, PDF_PERMISSION

_NEEDS = {
    "transcript-pdf": (PDF_PERMISSION, "request PDF transcripts"),
    "transcript-email": (EMAIL_PERMISSION, "send e-mail transcripts"),
}


@command(
    "prefs",
    aliases=("preferences",),
    args=[
        Arg("name", Choice("transcript-pdf", "transcript-email"), required=False),
        Arg("value", Choice("on", "off"), required=False),
    ],
    permission="view-l-room",
    help="Show or set your preferences. transcript-pdf on: every chat you serve sends you its "
    "PDF when it closes, whoever closes it; transcript-email on: the contact gets it by e-mail.",
    example="/prefs transcript-pdf on",
)
def prefs(ctx: Context) -> None:
    service = ctx.services.transcripts
    name, value = ctx.args.name, ctx.args.value
    if name is None:
        mine = service.repo.prefs(ctx.user.username)
        ctx.reply(
            f"transcript-pdf: {'on' if mine.pdf else 'off'}, "
            f"transcript-email: {'on' if mine.email else 'off'}."
        )
        return
    if value is None:
        raise MissingArgument(f"Missing on|off: {ctx.prefix}prefs {name} on|off.")
    on = value == "on"
    permission, what = _NEEDS[name]
    if on and not ctx.services.directory.may(ctx.user, permission):
        raise PermissionDenied(f"You don't have permission to {what} ({permission}).")
    if name == "transcript-pdf":
        service.repo.set_prefs(ctx.user.username, pdf=on)
        tail = (
            "every chat you serve sends you its PDF when it closes."
            if on
            else "no PDF at close unless you ask with +pdf."
        )
    else:
        service.repo.set_prefs(ctx.user.username, email=on)
        tail = (
            "the contact of every chat you serve gets its transcript by e-mail when it closes."
            if on
            else "no e-mail at close unless you ask with +email."
        )
    ctx.reply(f"{name} is {value}: {tail}")
