"""`/monitor`: the desk right now, per department, with a chart of the last hours' queue."""

from __future__ import annotations

from bot.cmd import Context, command
from commands.supervisor import in_console, scope, send_files, service, zone


@command(
    "monitor",
    aliases=("desk",),
    permission="view-livechat-real-time-monitoring",
    help="The desk right now: per department who waits (and the longest wait), serving, on "
    "hold, and each agent's status and load against their limit; a chart of the queue over "
    "the last hours.\nManagers see every department, monitors their own. Only in my DM.",
    example="/monitor",
)
def monitor(ctx: Context) -> None:
    if not in_console(ctx):
        return
    reports = service(ctx)
    desk = reports.desk(scope(ctx), ctx.clock())
    body, files = reports.desk_answer(desk, zone(ctx))
    ctx.reply(body)
    send_files(ctx, files)
