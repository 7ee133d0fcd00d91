"""`/status`: show or set the caller's availability for chats."""

from __future__ import annotations

from bot.cmd import Arg, Choice, Context, command
from bot.domain import Availability

_WORDS = {
    "available": Availability.AVAILABLE,
    "on": Availability.AVAILABLE,
    "not-available": Availability.NOT_AVAILABLE,
    "off": Availability.NOT_AVAILABLE,
}


@command(
    "status",
    aliases=("availability",),
    args=[Arg("state", Choice("available", "not-available", "on", "off"), required=False)],
    permission="view-l-room",
    help="Show or set whether you take chats: available (on) or not-available (off).\n"
    "Becoming available routes the chats waiting for you.",
    example="/status available",
)
def status(ctx: Context) -> None:
    word = ctx.args.state
    if word is None:
        if not ctx.services.directory.is_agent(ctx.user):
            ctx.reply("You are not an Omnichannel agent.")
            return
        availability, presence = ctx.services.presence.status_of(ctx.user.username)
        mine = ctx.services.repo.for_agent(ctx.user.username)
        serving = sum(1 for c in mine if c.state.value == "serving")
        held = len(mine) - serving
        limit = ctx.services.roster.limit_of(ctx.user.username)
        shown = "available" if availability is Availability.AVAILABLE else "not available"
        text = f"You are {shown} (presence: {presence}); {serving} chat(s) open"
        text += f" of {limit}" if limit else ""
        text += f", {held} on hold." if held else "."
        ctx.reply(text)
        return
    value = ctx.services.presence.set_status(ctx.user, _WORDS[word.lower()], route=False)
    if value is Availability.AVAILABLE:
        waiting = len(ctx.services.queue.visible_queue(ctx.user))
        tail = f" {waiting} chat(s) waiting: type {ctx.prefix}queue." if waiting else ""
        ctx.reply("You are now available for chats." + tail)
        # after the answer, so the DM reads in order: status, then what comes your way
        ctx.services.routing.agent_freed(ctx.user.username, became_available=True)
    else:
        ctx.reply("You are now not available: no new chats will be routed to you.")
