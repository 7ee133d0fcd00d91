"""`/search <pattern> [in:all] [from:@user] [limit:N]`: the conversation's stored messages
(edits and deletions applied), searched with RE2 so no pattern can stall the bot."""

from __future__ import annotations

import re

from bot.cmd import TEXT, Arg, BadArgument, Context, command
from bot.cmd.converters import conversation_number
from bot.cmd.tokenizer import tokenize
from bot.domain.errors import Refused
from bot.services.search import InvalidPattern, compile_pattern, format_hit
from bot.services.search.conversations import search_conversations
from bot.store.messages import MessageRepo
from commands import kit as tk

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
_OPTION = re.compile(r"^(in|from|limit):(\S+)$", re.IGNORECASE)


@command(
    "search",
    # in:/from:/limit: are words inside the pattern's text (not key=value options); the
    # help text names them.
    args=[Arg("pattern", TEXT, metavar="pattern")],
    permission="view-l-room",
    help=(
        "Search this conversation's messages with a regular expression.\n"
        "/search <pattern> [in:all|in:#N] [from:@user] [limit:N]. "
        "Plain words work as typed; error\\d{3} finds error404. Case-insensitive unless the "
        "pattern starts with (?-i). in:all searches all of the contact's conversations, "
        "in:#N another one; from:@user keeps one author's messages; limit:N shows up to N "
        f"(default {DEFAULT_LIMIT}, at most {MAX_LIMIT})."
    ),
    example="/search refund|invoice from:@carol",
)
def search_command(ctx: Context) -> None:
    text, scope, author, limit = _parse(ctx)
    try:
        pattern = compile_pattern(text)
    except InvalidPattern as exc:
        raise Refused(str(exc)) from None
    if scope == "all" or ctx.room_kind == "conversation" or isinstance(scope, int):
        conv = tk.conversation(ctx, scope if isinstance(scope, int) else None)
    else:
        raise BadArgument(
            f"Which conversation? Use {ctx.prefix}search in a conversation room, or add in:#N."
        )
    if scope == "all":
        tk.ensure(ctx, "view-livechat-contact-history", "search a contact's history")
        convs = tk.contact_conversations(ctx, conv.contact_username)
        where = f"@{conv.contact_username}'s conversations"
    else:
        convs = [conv]
        where = f"#{conv.number}"
    result = search_conversations(
        MessageRepo(ctx.store), pattern, convs, author=author, limit=limit
    )
    if not result.hits:
        who = f" from @{author}" if author else ""
        ctx.reply(f"No messages{who} in {where} match {text!r}.")
        return
    tz = tk.zone(ctx)
    noun = "message" if result.total == 1 else "messages"
    lines = [f"{result.total} {noun} in {where} match {text!r} (newest first):"]
    for number, hit in result.hits:
        line = format_hit(hit, tz=tz)
        lines.append(f"#{number} {line}" if scope == "all" else line)
    if result.more:
        lines.append(f"…and {result.more} more (limit:N shows more).")
    ctx.reply("\n".join(lines))


def _parse(ctx: Context) -> tuple[str, str | int | None, str | None, int]:
    """(pattern as typed, scope: None | "all" | conversation number, author, limit).

    The options are whole words `in:…`, `from:…`, `limit:…`; everything else is the pattern,
    kept as typed (spacing and backslashes included), unquoted when given as one quoted group.
    """
    rest = tk.command_rest(ctx)
    tokens = tokenize(rest)
    scope: str | int | None = None
    author: str | None = None
    limit = DEFAULT_LIMIT
    keep = []
    for tok in tokens:
        match = _OPTION.match(tok.raw) if tok.kind == "word" and not tok.quoted else None
        if match is None:
            keep.append(tok)
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key == "in":
            if value.lower() == "all":
                scope = "all"
            elif (number := conversation_number(value)) is not None:
                scope = number
            else:
                raise BadArgument(f"'{tok.raw}': use in:all or in:#N.")
        elif key == "from":
            author = value.lstrip("@")
        else:
            if not value.isdigit() or not value.isascii() or not 1 <= int(value) <= MAX_LIMIT:
                raise BadArgument(f"'{tok.raw}': the limit is a number from 1 to {MAX_LIMIT}.")
            limit = int(value)
    if not keep:
        raise BadArgument("What should I look for? e.g. /search refund")
    if len(keep) == 1 and keep[0].quoted:
        return keep[0].value or "", scope, author, limit
    text = rest[keep[0].start : keep[-1].end]
    if any(
        tok.start > keep[0].start and tok not in keep for tok in tokens if tok.end <= keep[-1].end
    ):
        # an option in the middle of the pattern: drop it, keep the rest as typed
        text = " ".join(t.raw for t in keep)
    return text, scope, author, limit
