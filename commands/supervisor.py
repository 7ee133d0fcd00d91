"""What `/monitor` and `/report` share: the console-only rule, the caller's scope and zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from bot.cmd import Context
from bot.domain import Refused
from bot.domain.desk import Scope
from bot.services.reports import File, ReportService, zone_of
from commands.kit import viewer


def service(ctx: Context) -> ReportService:
    found = getattr(ctx.services, "reports", None)
    if found is None:
        raise RuntimeError("the report service is not installed (bot.services.reports.install)")
    return found


def in_console(ctx: Context) -> bool:
    """True in the caller's own DM with the bot. Anywhere else (a customer room, a channel,
    a group DM) the numbers would be read by others: the refusal, one line saying where to
    type it, goes to the caller's DM, never to the room where the command was typed."""
    name = ctx.command.name if ctx.command else "this command"
    if ctx.room_kind == "dm" and ctx.rid == ctx.chat.dm_room(ctx.user.username):
        return True
    ctx.chat.dm(
        ctx.user.username,
        f"{ctx.prefix}{name} works only in our direct messages, where nobody else reads: "
        f"type it here.",
    )
    return False


def scope(ctx: Context) -> Scope:
    """The departments the caller may see; refused when a monitor belongs to none."""
    found = service(ctx).scope(viewer(ctx))
    if not found.everything and not found.departments:
        raise Refused(
            "You monitor no department: ask an admin to list you in departments.<name>.monitors.",
            "error-not-allowed",
        )
    return found


def zone(ctx: Context) -> tzinfo:
    """The caller's zone: the server's `utcOffset`, else `reports.timezone`."""
    return zone_of(getattr(ctx.user, "utc_offset", None), service(ctx).config)


def send_files(ctx: Context, files: Sequence[File]) -> None:
    """The charts (and CSV) after the text, in the same DM."""
    for f in files:
        ctx.chat.upload(ctx.rid, f.data, f.name, f.mime, message=f.caption)
