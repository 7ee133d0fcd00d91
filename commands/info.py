"""`/info [#N]`: the conversation's fields and metrics; `/info set …` changes topic, priority
and tags (rules §8)."""

from __future__ import annotations

from bot.cmd import Arg, BadArgument, Choice, Context, Option, command
from bot.cmd.converters import ListOf
from bot.domain import may_act
from bot.domain.errors import Refused
from bot.services.info import info_lines
from commands import kit as tk
from commands.kit import HASH_NUMBER

PRIORITIES = ("highest", "high", "medium", "low", "lowest", "none")
NOTE_KIND = "livechat-room-info"  # the stored type of the room note (not searchable text)


@command(
    "info",
    args=[
        Arg("action", Choice("set"), required=False),
        Arg("number", HASH_NUMBER, required=False),
    ],
    options={
        "topic": Option(metavar='"…"'),
        "priority": Option(Choice(*PRIORITIES)),
        "tags": Option(ListOf(), metavar="+a,-b"),
        "sla": Option(metavar="<policy>|none"),
    },
    permission="view-l-room",
    help=(
        "Show a conversation's details and response metrics, or change its topic, priority, "
        "SLA policy and tags.\n"
        "In the conversation room: /info; elsewhere /info #N. "
        '/info set topic="…" priority=highest|high|medium|low|lowest|none sla=<policy>|none '
        "tags=+a,-b (the serving agent, or save-others-livechat-room-info); changes are noted "
        "in the room."
    ),
    example='/info set topic="refund" priority=high tags=+billing,-new',
)
def info(ctx: Context) -> None:
    args = ctx.args
    changing = args.action == "set" or any(
        args.get(k) is not None for k in ("topic", "priority", "tags", "sla")
    )
    conv = tk.conversation(ctx, args.number)
    if not changing:
        tz = tk.zone(ctx)
        contact = ctx.services.repo.contact(conv.contact_username)
        lines = info_lines(
            conv,
            ctx.clock(),
            lambda value: tk.when(value, tz),
            contact_name=contact.name if contact else None,
            rating=ctx.services.satisfaction.rating_of(conv.number),
        )
        ctx.reply("\n".join(lines))
        return
    _set(ctx, conv)


def _set(ctx: Context, conv) -> None:  # type: ignore[no-untyped-def]
    args = ctx.args
    if args.topic is None and args.priority is None and args.tags is None and args.sla is None:
        raise BadArgument('What should change? topic="…", priority=…, sla=… or tags=+a,-b.')
    viewer = tk.viewer(ctx)
    if not may_act(
        conv, viewer, ctx.services.directory.perms, "view-l-room", "save-others-livechat-room-info"
    ):
        raise Refused(
            "Only the agents in this conversation, or those with "
            "save-others-livechat-room-info, may change its details.",
            "error-not-allowed",
        )
    add, remove = _tag_changes(args.tags or [])
    priority: str | bool | None = False
    if args.priority is not None:
        priority = None if args.priority == "none" else args.priority
    topic = args.topic.strip() if args.topic is not None else None
    sla_name = args.sla.strip() if args.sla is not None else None

    def decide(current):  # type: ignore[no-untyped-def]
        sla = False if sla_name is None else ctx.services.sla.change(current, sla_name)
        return current.update_info(
            ctx.user.username,
            ctx.clock(),
            topic=topic,
            priority=priority,
            add_tags=add,
            remove_tags=remove,
            sla=sla,
        )

    # Through the transition path: the timers re-arm (an SLA's warning and breach), and a new
    # priority takes its place in the queue order at once.
    before, (after, _event) = ctx.services.transitions.transition(conv.number, decide)
    changes = _describe(before, after)
    if not changes:
        ctx.reply(f"Nothing changed in #{conv.number}.")
        return
    note = f"@{ctx.user.username} " + "; ".join(changes) + "."
    ctx.services.posting.tell_agents(after, note, NOTE_KIND)
    if ctx.user.username != after.agent:
        ctx.reply(f"#{after.number}: " + "; ".join(changes) + ".")


def _tag_changes(items: list[str]) -> tuple[list[str], list[str]]:
    add, remove = [], []
    for item in items:
        if item.startswith("-"):
            name = item[1:].strip()
            target = remove
        else:
            name = item[1:].strip() if item.startswith("+") else item
            target = add
        if not name:
            raise BadArgument(f"'{item}' is not a tag (tags=+new,-old).")
        if len(name) > 64:
            raise BadArgument(f"The tag '{name[:20]}…' is longer than 64 characters.")
        target.append(name)
    return add, remove


def _describe(before, after) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    if before.topic != after.topic:
        out.append(f'set the topic to "{after.topic}"' if after.topic else "cleared the topic")
    if before.priority != after.priority:
        out.append(
            f"set the priority to {after.priority}" if after.priority else "cleared the priority"
        )
    if before.sla != after.sla or before.sla_due_at != after.sla_due_at:
        out.append(f"set the SLA to {after.sla}" if after.sla else "removed the SLA")
    added = [t for t in after.tags if t not in before.tags]
    removed = [t for t in before.tags if t not in after.tags]
    if added:
        out.append("added the tag" + ("s " if len(added) > 1 else " ") + ", ".join(added))
    if removed:
        out.append("removed the tag" + ("s " if len(removed) > 1 else " ") + ", ".join(removed))
    return out
