"""`/history [query]` / `/history @contact [query]`: the contact's past conversations, newest
first; with a query (a regular expression, as in `/search`) only those whose messages match,
with the matching lines."""

from __future__ import annotations

from bot.cmd import TEXT, Arg, Context, command
from bot.domain import Conversation, State
from bot.domain.errors import Refused
from bot.services.notify import first_line
from bot.services.search import InvalidPattern, compile_pattern, format_hit
from bot.services.search.conversations import last_message, search_conversations
from bot.store.messages import MessageRepo
from commands import kit as tk

MAX_CONVERSATIONS = 10
LINES_PER_CONVERSATION = 3


@command(
    "history",
    args=[
        Arg("target", tk.TARGET, required=False),
        Arg("query", TEXT, required=False),
    ],
    permission="view-livechat-contact-history",
    help=(
        "The contact's past conversations, newest first: number, dates, agent, tags, comment "
        "and last message.\n"
        "In a conversation room: /history [query]; elsewhere /history @contact [query] or "
        "/history #N. With a query (a regular expression, e.g. refund|invoice) only the "
        "conversations whose messages match, with the matching lines."
    ),
    example="/history @carol invoice",
)
def history(ctx: Context) -> None:
    username, current = tk.contact_of(ctx, ctx.args.target)
    past = [
        c
        for c in tk.contact_conversations(ctx, username)
        if c.state is State.CLOSED and (current is None or c.number != current.number)
    ]
    if not past:
        ctx.reply(f"@{username} has no earlier conversations you can see.")
        return
    tz = tk.zone(ctx)
    repo = MessageRepo(ctx.store)
    query = ctx.args.query
    ratings = ctx.services.satisfaction.ratings.for_conversations(
        [c.number for c in past[:MAX_CONVERSATIONS]]
    )
    if not query:
        lines = [f"Earlier conversations of @{username} (newest first):"]
        for conv in past[:MAX_CONVERSATIONS]:
            lines.append(_summary(conv, tz, ratings.get(conv.number)))
            last = _last_message(ctx, conv)
            if last:
                lines.append(f"    last: {last}")
        if len(past) > MAX_CONVERSATIONS:
            lines.append(f"…and {len(past) - MAX_CONVERSATIONS} older.")
        ctx.reply("\n".join(lines))
        return
    try:
        pattern = compile_pattern(query)
    except InvalidPattern as exc:
        raise Refused(str(exc)) from None
    found = search_conversations(repo, pattern, past, limit=0)
    matching = [c for c in past if found.by_conversation.get(c.number)]
    if not matching:
        ctx.reply(f"No earlier conversation of @{username} matches {query!r}.")
        return
    lines = [f"Earlier conversations of @{username} matching {query!r} (newest first):"]
    for conv in matching[:MAX_CONVERSATIONS]:
        count = found.by_conversation[conv.number]
        summary = _summary(conv, tz, ratings.get(conv.number))
        lines.append(summary + f" — {count} matching message{'s' if count != 1 else ''}")
        hits = search_conversations(repo, pattern, [conv], limit=LINES_PER_CONVERSATION)
        lines += [f"    {format_hit(hit, tz=tz, width=120)}" for _n, hit in hits.hits]
    if len(matching) > MAX_CONVERSATIONS:
        lines.append(f"…and {len(matching) - MAX_CONVERSATIONS} older.")
    ctx.reply("\n".join(lines))


def _summary(conv: Conversation, tz, rating=None) -> str:  # type: ignore[no-untyped-def]
    start = tk.when(conv.created_at, tz)
    end = tk.when(conv.closed_at, tz) if conv.closed_at else "open"
    agent = f"@{conv.agent}" if conv.agent else _last_agent(conv)
    parts = [f"#{conv.number} {start} → {end}", agent]
    if conv.tags:
        parts.append("tags: " + ", ".join(conv.tags))
    if conv.comment:
        parts.append(f'"{first_line(conv.comment, 80)}"')
    if rating is not None and rating.rating is not None:
        parts.append(f"rated {rating.rating}/5")
    return " · ".join(parts)


def _last_agent(conv: Conversation) -> str:
    if conv.previous_agents:
        return f"@{conv.previous_agents[-1]}"
    return "never taken"


def _last_message(ctx: Context, conv: Conversation) -> str:
    found = last_message(ctx.store, conv.number)
    return f"@{found[0]}: {first_line(found[1], 100)}" if found else ""
