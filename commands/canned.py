"""`/canned`: list, add, edit and remove canned responses (rules §9).

The response text is taken from the command line as typed (quotes, line breaks and all), so what
the agent writes is what the contact will read.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.cmd import TEXT, Arg, BadArgument, Choice, Context, Option, command
from bot.cmd.converters import configured_departments
from bot.cmd.tokenizer import Token, tokenize
from bot.domain.errors import Refused
from bot.services.canned import (
    DEPARTMENT,
    GLOBAL,
    USER,
    CannedCatalog,
    CannedResponse,
    normalize_shortcut,
    parse_scope,
)
from bot.store.messages import MessageRepo
from commands import kit as tk

ACTIONS = ("add", "edit", "remove")
LIST_LIMIT = 50


@command(
    "canned",
    args=[
        Arg("action", Choice(*ACTIONS), required=False),
        Arg("text", TEXT, required=False, metavar="!shortcut text…|filter"),
    ],
    options={
        "scope": Option(metavar="global|department:<name>|user"),
        "from": Option(Choice("last")),
    },
    permission="view-canned-responses",
    help=(
        "List the canned responses you can use (type !shortcut in a room to send one), or "
        "add, edit or remove one.\n"
        "/canned [filter] lists them by scope. /canned add !shortcut [scope=…] text… saves one "
        "(scope global needs save-all-canned-responses; department:<name> needs "
        "save-department-canned-responses; user is only for you). from=last takes your last "
        "message in this room as the text. /canned edit !shortcut [scope=…] [text…] changes "
        "one; /canned remove !shortcut deletes it. Placeholders: {{contact.name}}, "
        "{{contact.email}}, {{contact.phone}}, {{agent.name}}, {{agent.email}}, "
        "{{department}}, {{conversation.number}}."
    ),
    example="/canned add !greet scope=user Hello {{contact.name}}, how can I help?",
)
def canned(ctx: Context) -> None:
    action = ctx.args.action
    if action is None:
        ctx.reply(_listing(ctx, ctx.args.text))
        return
    shortcut, text = _shortcut_and_text(ctx)
    catalog = CannedCatalog(ctx.store, ctx.config)
    viewer, perms = tk.viewer(ctx), tk.perms(ctx)
    if action == "remove":
        if text:
            raise BadArgument(f"{ctx.prefix}canned remove takes only the !shortcut.")
        gone = catalog.remove(shortcut, viewer=viewer, perms=perms)
        ctx.reply(f"Removed !{gone.shortcut}.")
        return
    if ctx.args.get("from") == "last":
        if text:
            raise BadArgument("Give either from=last or the text, not both.")
        text = _last_message(ctx)
    scope_word = ctx.args.scope
    departments = configured_departments(ctx.config)
    if action == "add":
        if not text:
            raise BadArgument(f"What should !{shortcut} say? Add the text after the shortcut.")
        if scope_word is None:
            scope_word = GLOBAL if perms.has(viewer.roles, "save-all-canned-responses") else USER
        scope, dept = parse_scope(scope_word, departments)
        saved = catalog.add(
            shortcut, text, scope=scope, department=dept, viewer=viewer, perms=perms, at=ctx.clock()
        )
        ctx.reply(
            f"Saved !{saved.shortcut} ({_scope_text(saved)}). Type !{saved.shortcut} to use it."
        )
        return
    scope, dept = parse_scope(scope_word, departments) if scope_word else (None, None)
    if not text and scope is None:
        raise BadArgument("Give the new text and/or scope=… after the shortcut.")
    saved = catalog.edit(
        shortcut,
        viewer=viewer,
        perms=perms,
        text=text or None,
        scope=scope,
        department=dept,
        at=ctx.clock(),
    )
    ctx.reply(f"Updated !{saved.shortcut} ({_scope_text(saved)}).")


def _scope_text(c: CannedResponse) -> str:
    if c.scope == DEPARTMENT:
        return f"department {c.department}: its agents can use it"
    if c.scope == USER:
        return "scope user: only you can use it"
    return "global: everyone can use it"


def _shortcut_and_text(ctx: Context) -> tuple[str, str]:
    """The `!shortcut` word and the raw text after it (without the declared options)."""
    rest = tk.command_rest(ctx)
    tokens = tokenize(rest)
    words = [t for t in tokens if not _is_option(t)]
    if len(words) < 2:  # the action word, then the shortcut
        raise BadArgument(f"Which shortcut? e.g. {ctx.prefix}canned {ctx.args.action} !greet")
    shortcut = normalize_shortcut(words[1].value or "")
    text = _raw_between(rest, words[2:], [t for t in tokens if _is_option(t)])
    return shortcut, text


def _is_option(tok: Token) -> bool:
    return tok.kind == "option" and tok.key.lower() in ("scope", "from")


def _raw_between(line: str, words: Sequence[Token], skip: Sequence[Token]) -> str:
    """The raw text from the first of `words` to the end, minus the `skip` tokens."""
    if not words:
        return ""
    start = words[0].start
    out, cursor = [], start
    for tok in sorted(skip, key=lambda t: t.start):
        if tok.start < start:
            continue
        out.append(line[cursor : tok.start])
        cursor = tok.end
    out.append(line[cursor:])
    text = "".join(out).strip()
    # A text given as one quoted group loses its quotes, like any quoted argument.
    if len(words) == 1 and words[0].quoted and words[0].raw == line[start : words[0].end].strip():
        return (words[0].value or "").strip()
    return text


def _last_message(ctx: Context) -> str:
    last = MessageRepo(ctx.store).last_by_author(ctx.rid, ctx.user.username)
    if last is None or not last.text.strip():
        if ctx.room_kind != "conversation":
            raise Refused("from=last works in a conversation room, where I keep the messages.")
        raise Refused("You have not written anything in this room yet.")
    return last.text


def _listing(ctx: Context, needle: str | None) -> str:
    catalog = CannedCatalog(ctx.store, ctx.config)
    visible = catalog.visible(tk.viewer(ctx), tk.perms(ctx))
    if needle:
        key = needle.lower().lstrip("!")
        visible = [c for c in visible if key in c.shortcut or key in c.text.lower()]
    if not visible:
        if needle:
            return f"No canned responses match '{needle}'."
        return (
            "There are no canned responses you can use yet. "
            f"Add one: {ctx.prefix}canned add !greet scope=user Hello!"
        )
    groups: dict[str, list[CannedResponse]] = {}
    for c in visible:
        title = {
            GLOBAL: "Global",
            USER: "Yours",
            DEPARTMENT: f"Department {c.department}",
        }[c.scope]
        groups.setdefault(title, []).append(c)
    order = sorted(groups, key=lambda t: (t != "Global", t == "Yours", t))
    lines: list[str] = []
    shown = 0
    for title in order:
        lines.append(f"*{title}*")
        for c in groups[title]:
            if shown >= LIST_LIMIT:
                break
            lines.append(f"!{c.shortcut} — {_one_line(c.first_line)}")
            shown += 1
    if len(visible) > shown:
        lines.append(
            f"…and {len(visible) - shown} more; narrow it with {ctx.prefix}canned <filter>."
        )
    return "\n".join(lines)


def _one_line(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
