"""`/queue`, `/preview`, `/take`, `/mine`: what is waiting, and taking it."""

from __future__ import annotations

from datetime import datetime

from bot.chat.sending import page_lines
from bot.cmd import CONVERSATION_NUMBER, Arg, Choice, Context, command
from bot.cmd.converters import Integer
from bot.domain import Conversation, Refused, State, can_see_queued
from bot.domain.text import inline
from bot.services import notify

PREVIEW_MESSAGES = 10
#: waiting chats per `/queue` page: a page stays far below Rocket.Chat's message size limit
QUEUE_PAGE = 15


def _urgency(conv: Conversation, now: datetime) -> str:
    """` · priority high · SLA vip due in 3m` (or `… overdue 2m`): why it sorts where it does."""
    out = f" · priority {conv.priority}" if conv.priority else ""
    if conv.sla and conv.sla_due_at is not None:
        left = (conv.sla_due_at - now).total_seconds()
        when = f"due in {notify.waited(left)}" if left > 0 else f"overdue {notify.waited(-left)}"
        out += f" · SLA {conv.sla} {when}"
    return out


@command(
    "queue",
    aliases=("q",),
    args=[
        Arg("scope", Choice("all"), required=False),
        Arg("page", Integer(minimum=1), required=False),
    ],
    permission="view-livechat-queue",
    help="List the waiting conversations you may take, in queue order (routing.sorting: "
    "by default priority, then SLA due time, then arrival), "
    f"{QUEUE_PAGE} per page (`/queue 2` shows the next ones).\n"
    "Managers add `all` to see every department.",
    example="/queue",
)
def queue(ctx: Context) -> None:
    scope = ctx.args.scope
    convs = ctx.services.queue.visible_queue(ctx.user, all_departments=scope == "all")
    if not convs:
        ctx.reply("No chats are waiting.")
        return
    now = ctx.clock()
    command = f"{ctx.prefix}queue {'all ' if scope == 'all' else ''}"
    page = ctx.args.page or 1
    shown, pages = page_lines(
        [
            notify.queue_line(c, now, ctx.services.queue.first_line(c)) + _urgency(c, now)
            for c in convs
        ],
        page=page,
        per_page=QUEUE_PAGE,
        more=lambda left, after: f"…and {left} more: `{command}{after}`",
    )
    where = f" (page {min(page, pages)} of {pages})" if pages > 1 else ""
    lines = [f"{len(convs)} chat(s) waiting{where}:", *shown]
    lines.append(f"Type {ctx.prefix}take N to take one, {ctx.prefix}preview N to peek.")
    ctx.reply("\n".join(lines))


@command(
    "preview",
    aliases=("peek",),
    args=[Arg("number", CONVERSATION_NUMBER)],
    permission="view-l-room",
    help="Show the last messages of a waiting conversation before you take it.",
    example="/preview 12",
)
def preview(ctx: Context) -> None:
    number = ctx.args.number
    conv = ctx.services.repo.get(number)
    viewer = ctx.services.directory.viewer(ctx.user)
    if conv is None or not ctx.services.queue.in_my_queue(conv, viewer):
        raise Refused(f"There is no conversation #{number} in your queue.", "error-not-found")
    if conv.state is not State.QUEUED:
        who = f" (served by @{conv.agent})" if conv.agent else ""
        raise Refused(
            f"Conversation #{number} is not waiting in the queue{who}.", "error-not-queued"
        )
    if not can_see_queued(conv, viewer, ctx.services.directory.perms):
        raise Refused(f"There is no conversation #{number} in your queue.", "error-not-found")
    said = [
        m
        for m in ctx.services.messages.for_conversations([number])
        if m.type is None and m.text.strip()
    ][-PREVIEW_MESSAGES:]
    lines = [notify.queue_line(conv, ctx.clock(), "")]
    lines += [f"@{inline(m.author_username)}: {inline(m.text)}" for m in said] or [
        "(no messages yet)"
    ]
    ctx.reply("\n".join(lines))


@command(
    "take",
    aliases=("t",),
    args=[Arg("number", CONVERSATION_NUMBER, required=False)],
    permission="view-l-room",
    help="Take conversation N, or the oldest one you may take. You join its room.",
    example="/take 12",
)
def take(ctx: Context) -> None:
    number = ctx.args.number
    conv = (
        ctx.services.conversations.take_next(ctx.user)
        if number is None
        else ctx.services.conversations.take(ctx.user, number)
    )
    ctx.reply(
        f"You took #{conv.number} from {notify.contact_label(conv)} in "
        f"{notify.where(conv.department)}. Room: {ctx.services.effects.room_link(conv)}"
    )


@command(
    "mine",
    aliases=("my",),
    permission="view-l-room",
    help="Your conversations in progress and on hold.",
)
def mine(ctx: Context) -> None:
    convs = ctx.services.repo.for_agent(ctx.user.username)
    if not convs:
        ctx.reply("You have no open conversations.")
        return
    now = ctx.clock()
    lines = [f"Your conversations ({len(convs)}):"]
    for c in convs:
        state = "on hold" if c.state is State.ON_HOLD else "in progress"
        since = notify.waited((now - (c.taken_at or c.created_at)).total_seconds())
        lines.append(
            f"#{c.number} {notify.contact_label(c)} · {notify.where(c.department)} · {state} "
            f"· {since}"
        )
    ctx.reply("\n".join(lines))
