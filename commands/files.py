"""`/files [#N] [type] [query]`: the files attached in a conversation, newest first."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.cmd import TEXT, Arg, BadArgument, Context, Converter, command
from bot.domain.errors import Refused
from bot.domain.text import inline
from bot.services.search import (
    KINDS,
    InvalidPattern,
    compile_pattern,
    file_kind,
    filter_files,
    human_size,
)
from bot.services.search.files import is_file_type
from bot.store.messages import MessageRepo
from commands import kit as tk
from commands.kit import HASH_NUMBER

MAX_FILES = 30


class FileType(Converter):
    """`image`, `video`, `audio`, `document`, `other` or a MIME type (`image/png`, `image/*`)."""

    def convert(self, word: str, ctx: Any) -> str:
        if not is_file_type(word):
            raise BadArgument(f"'{word}' is not a file type ({', '.join(KINDS)} or a MIME type).")
        return word.lower()

    def metavar_for(self, name: str) -> str:
        return "type"


@command(
    "files",
    args=[
        Arg("number", HASH_NUMBER, required=False),
        Arg("type", FileType(), required=False),
        Arg("query", TEXT, required=False),
    ],
    permission="view-l-room",
    help=(
        "The files attached in this conversation (or #N): name, type, size, author, time, "
        "link.\n"
        f"Filter by type ({', '.join(KINDS)} or a MIME type like image/png) and by a query "
        "(a regular expression) on the name and description."
    ),
    example="/files image invoice",
)
def files(ctx: Context) -> None:
    conv = tk.conversation(ctx, ctx.args.number)
    query = None
    if ctx.args.query:
        try:
            query = compile_pattern(ctx.args.query)
        except InvalidPattern as exc:
            raise Refused(str(exc)) from None
    every = MessageRepo(ctx.store).files(conv.rid) if conv.rid else []
    found = filter_files(every, type=ctx.args.type, query=query)
    if not found:
        what = " matching" if (ctx.args.type or query) else ""
        ctx.reply(f"No{what} files in #{conv.number}.")
        return
    found.reverse()  # newest first
    tz = tk.zone(ctx)
    base = str(getattr(getattr(ctx.config, "server", None), "url", "") or "").rstrip("/")
    noun = "file" if len(found) == 1 else "files"
    lines = [f"{len(found)} {noun} in #{conv.number} (newest first):"]
    for f in found[:MAX_FILES]:
        # Rocket.Chat's message files carry no URL; its download path is fixed by id and name.
        link = f.url or f"/file-upload/{f.file_id}/{quote(f.name)}"
        if link.startswith("/"):
            link = base + link
        desc = f" — {inline(f.description)}" if f.description else ""
        lines.append(
            f"{inline(f.name)} ({file_kind(f.type)}, {f.type}, {human_size(f.size)}) by "
            f"@{f.author_username}, {tk.when(f.ts, tz)}{desc}" + f"\n    {link}"
        )
    if len(found) > MAX_FILES:
        lines.append(f"…and {len(found) - MAX_FILES} older.")
    ctx.reply("\n".join(lines))
