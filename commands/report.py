"""`/report`: a period's conversations and response times, with charts and the CSV behind them."""

from __future__ import annotations

import re
from typing import Any

from bot.cmd import DEPARTMENT, Arg, BadArgument, Context, Converter, command
from bot.domain import Refused
from bot.services.reports.text import what
from commands.supervisor import in_console, scope, send_files, service, zone

_PERIOD = re.compile(r"^(today|yesterday|\d{1,3}d|\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2})$", re.I)
_AT_USER = re.compile(r"^@[\w.\-]{1,64}$")


class PeriodWord(Converter):
    """`today`, `yesterday`, `7d`, `2026-01-01..2026-01-31` (checked against the calendar by
    the service, in the reader's zone)."""

    def convert(self, word: str, ctx: Any) -> str:
        if not _PERIOD.match(word):
            raise BadArgument(
                f"'{word}' is not a period: use today, yesterday, 7d, 30d or "
                "YYYY-MM-DD..YYYY-MM-DD."
            )
        return word.lower()

    def metavar_for(self, name: str) -> str:
        return "today|yesterday|7d|30d|from..to"


class AtAgent(Converter):
    """`@bob` only (a bare word is a department)."""

    def convert(self, word: str, ctx: Any) -> str:
        if not _AT_USER.match(word):
            raise BadArgument(f"'{word}' is not a period, a department or an @agent.")
        return word[1:]

    def metavar_for(self, name: str) -> str:
        return "@agent"


@command(
    "report",
    aliases=("analytics",),
    args=[
        Arg("period", PeriodWord(), required=False),
        Arg("department", DEPARTMENT, required=False),
        Arg("agent", AtAgent(), required=False),
    ],
    flags={"csv": None},
    permission="view-livechat-analytics",
    help="Conversations opened, served, abandoned and closed; first response and response "
    "times (p50, p90), time in queue and handle time; by department, agent, tag and hour of "
    "day in your time zone, with charts. +csv adds the rows behind the numbers.\n"
    "Managers see every department, monitors their own. Only in my DM.",
    example="/report 7d support +csv",
)
def report(ctx: Context) -> None:
    if not in_console(ctx):
        return
    reports = service(ctx)
    seen = scope(ctx)
    department, agent = ctx.args.department, ctx.args.agent
    if department is not None and not seen.sees(department):
        raise Refused(f"You don't monitor {department}.", "error-not-allowed")
    tz = zone(ctx)
    now = ctx.clock()
    try:
        period = reports.period(ctx.args.period, tz, now)
    except ValueError as exc:
        raise BadArgument(str(exc)) from None
    result = reports.report(seen, period, tz, department=department, agent=agent, now=now)
    title = what(department, agent, seen.everything, sorted(seen.departments))
    body, files = reports.report_answer(result, tz, title, with_csv=bool(ctx.args.csv), now=now)
    ctx.reply(body)
    send_files(ctx, files)
