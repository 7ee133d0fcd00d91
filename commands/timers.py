"""`/timers [#N]`: what is armed for a conversation and when it fires."""

from __future__ import annotations

from datetime import datetime

from bot.cmd import Arg, Context, command
from bot.domain import Refused, may_act
from bot.services import notify
from commands.kit import HASH_NUMBER, this_conversation

STAFF_SEES_ALL = "view-livechat-rooms"

_WHAT = {
    "queue_max_wait": "queue_max_wait",
    "unanswered_transfer": "unanswered_transfer",
    "abandoned": "abandoned",
    "on_hold_auto_close": "on_hold_auto_close",
    "agent_offline": "agent_offline",
}

_ACTION = {
    "close": "closes it",
    "hold": "places it on hold",
    "alert": "alerts the supervisors",
    "reroute": "sends it back to routing",
    "forward": "sends it back to routing",
}


def describe(kind: str, at: datetime, action: str, subject: str, now: datetime) -> str:
    """One line: `abandoned: closes it at 14:05 UTC (in 12m)`."""
    left = (at - now).total_seconds()
    when = f"in {notify.waited(left)}" if left > 0 else "due now"
    who = f" (@{subject} is away)" if kind == "agent_offline" else ""
    doing = _ACTION.get(action, action)
    return f"{_WHAT.get(kind, kind)}{who}: {doing} at {at:%Y-%m-%d %H:%M} UTC ({when})"


@command(
    "timers",
    args=[Arg("number", HASH_NUMBER, required=False)],
    permission="view-l-room",
    help="Show the timers armed for this conversation and when they fire\n"
    "(agents of the chat and managers).",
    example="/timers #12",
)
def timers(ctx: Context) -> None:
    service = getattr(ctx.services, "timers", None)
    conv = this_conversation(ctx, ctx.args.number)
    if not may_act(
        conv,
        ctx.services.directory.viewer(ctx.user),
        ctx.services.directory.perms,
        "view-l-room",
        STAFF_SEES_ALL,
    ):
        raise Refused(
            "You can see the timers only of a conversation you are in.", "error-not-authorized"
        )
    if service is None:
        ctx.reply("Timers are not running on this bot.")
        return
    armed = service.armed(conv.number)
    if not armed:
        ctx.reply(f"No timers are armed for #{conv.number} ({conv.state.value}).")
        return
    now = ctx.clock()
    lines = [f"Timers for #{conv.number} ({conv.state.value}):"]
    lines += [f"- {describe(a.kind, a.at, a.action, a.subject, now)}" for a in armed]
    ctx.reply("\n".join(lines))
