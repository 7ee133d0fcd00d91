"""Fuzz (issue 7): random command lines from every role against the real registry, workflow and
SQLite store (the chat is `FakeChat`). For every line:

- the dispatcher never crashes and no user ever sees a traceback or "Something went wrong" (an
  unexpected exception is a bug: the line prints with the logged traceback);
- a line that is a command gets an answer where issue 16 sends it (`bot.services.replies`): in
  the room it was typed in when that is the typist's DM or the typist's own conversation room,
  else in the typist's DM with the bot (top level or a console thread), never in the room;
- a command that did not succeed (refused, bad argument, denied, wrong place, unknown) changes
  no state table (the store is snapshotted before and after; dedupe/cursor/cache tables aside),
  except the console thread its answer opened: one `console_threads` row, the typist's thread
  for the conversation of the room they typed in.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability.fuzzdesk import ADMINS, AGENTS, CONTACTS, MANAGERS, FuzzDesk

from bot.cmd import context

PEOPLE = [*AGENTS, *MANAGERS, *ADMINS, *CONTACTS]

WORDS = [
    "help", "h", "status", "availability", "queue", "q", "preview", "peek", "take", "t", "mine",
    "my", "requeue", "return", "unassign", "forward", "transfer", "fwd", "hold", "resume",
    "close", "end", "invite", "info", "contact", "history", "search", "files", "call", "canned",
    "prefs", "preferences", "transcript", "timers", "tkae", "hepl", "",
]  # fmt: skip

TOKENS = [
    "#1", "#2", "#3", "#4", "#999", "#0", "#-1", "#1e3", "1", "2", "3", "999999999999999",
    "@alice", "@bob", "@erin", "@maria", "@carol", "@nobody", "@", "@@", "sales", "support",
    "Sales", "nowhere", "all", "available", "not-available", "on", "off", "busy", "30m", "1h",
    "0", "-5", "tags=billing", "tags=a,b,c", "tags=", "tags==", "topic=x", "priority=high",
    "+pdf", "+email", "+email=x@example.test", "+email=not-an-address", "+", "pdf", "email",
    "add", "show", "list", "delete", "edit", "set", "pdf=on", "\"quoted words\"", "\"open",
    "'single'", "(a+)+$", ".*", "[", "\\", "é", "‮rtl", "🙂", "\x00", "\t", "key=value",
    "from=2020-01-01", "scope=all", "!", "!hello", "//", "--help", "-h",
]  # fmt: skip

token = st.one_of(
    st.sampled_from(TOKENS),
    st.text(min_size=1, max_size=12).filter(lambda s: not s.isspace()),
)
word = st.integers(0, 9).flatmap(
    lambda k: st.sampled_from(WORDS) if k < 9 else st.text(min_size=1, max_size=8)
)
command_line = st.builds(
    lambda prefix, word, args: (prefix + word + " " + " ".join(args)).rstrip(),
    st.sampled_from(["/"] * 12 + ["", "!", "/ "]),
    word,
    st.lists(token, max_size=6),
)
TEMPLATES = [
    "/take", "/take {n}", "/preview {n}", "/hold #{n}", "/resume #{n}", "/requeue #{n} busy",
    "/close #{n} solved tags=billing", "/close #{n} \"all good\"", "/forward #{n} @erin",
    "/forward #{n} sales moving", "/invite #{n} @maria", "/info #{n}", "/timers #{n}",
    "/queue", "/queue all", "/mine", "/status on", "/status off", "/status", "/history @carol",
    "/contact @dave", "/search help", "/files #{n}", "/transcript pdf #{n}", "/help take",
    "/prefs", "/canned", "/hold", "/close done",
]  # fmt: skip
valid_line = st.builds(lambda t, n: t.format(n=n), st.sampled_from(TEMPLATES), st.integers(1, 12))


def _line(k: int) -> st.SearchStrategy[str]:
    if k < 40:
        return valid_line  # well-formed: they succeed now and then
    if k < 85:
        return command_line  # command-shaped noise
    if k < 98:
        return st.text(max_size=40).map(lambda s: "/" + s)
    return st.just("/" + "x" * 5000)


line = st.integers(0, 99).flatmap(_line)

#: OMNICAT_FUZZ_EXAMPLES=5000 OMNICAT_FUZZ_RANDOM=1 for a longer hunt with fresh seeds
EXAMPLES = int(os.environ.get("OMNICAT_FUZZ_EXAMPLES", "1000"))
NOT_ANSWERED = {"not_a_command", "rate_limited"}


class Answers:
    """Where each command answer went (`Context.reply`'s destination), recorded around it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dests: list[tuple[str, str | None]] = []
        reply = context.Context.reply

        def recorded(ctx: context.Context, text: str) -> None:
            reply(ctx, text)
            self.dests.append(ctx.answer_to or (ctx.rid, ctx.message.tmid))

        monkeypatch.setattr(context.Context, "reply", recorded)


def said_since(desk: FuzzDesk, start: int, rids: set[str]) -> list[str]:
    """The bot's messages in `rids` since effect number `start`."""
    effects = desk.chat.effects[start:]
    return [e.text or "" for e in effects if e.kind in ("send", "post", "dm") and e.rid in rids]


def answered_here(desk: FuzzDesk, who: str, rid: str) -> bool:
    """Whether `who`'s command in `rid` is answered in `rid` (issue 16): their DM with the bot,
    or the open conversation room whose contact they are; anywhere else the answer goes to
    their DM (a channel with contacts in it, someone else's conversation room)."""
    if rid == desk.chat.dm_room(who):
        return True
    conv = desk.wf.repo.by_room(rid)
    return conv is not None and conv.contact_username == who


def thread_opened(desk: FuzzDesk, who: str, rid: str, before: list, after: list) -> bool:
    """Whether the `console_threads` change is exactly the one thread an answer to `who`'s
    command in conversation room `rid` opens: `who`'s, for that room's conversation."""
    conv = desk.wf.repo.by_room(rid)
    added = [row for row in after if row not in before]
    return (
        conv is not None
        and len(after) == len(before) + 1
        and len(added) == 1
        and desk.wf.console.repo.get(conv.number, who) is not None
        and desk.wf.console.repo.get(conv.number, who).root_id in added[0]
    )


class Ref(logging.Handler):
    """Keep the logged tracebacks so a failing line shows why."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_random_command_lines_from_every_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = FuzzDesk(tmp_path)
    answers = Answers(monkeypatch)
    errors = Ref()
    errors.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(errors)
    outcomes: Counter[str] = Counter()
    problems: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not os.environ.get("OMNICAT_FUZZ_RANDOM"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        who=st.sampled_from(PEOPLE),
        lines=st.lists(line, min_size=1, max_size=3),
        room_pick=st.integers(min_value=0, max_value=50),
    )
    def run(who: str, lines: list[str], room_pick: int) -> None:
        desk.replenish()
        rooms = desk.rooms_for(who)
        # mostly the DM (where every command is answered), sometimes elsewhere
        rid = rooms[0] if room_pick < 30 else rooms[room_pick % len(rooms)]
        for text in lines:
            before = desk.snapshot()
            errors.records.clear()
            here = answered_here(desk, who, rid)
            dm = desk.chat.dm_room(who)
            start, first_answer = len(desk.chat.effects), len(answers.dests)
            result, _in_room = desk.say(who, rid, text)
            said = said_since(desk, start, {rid} if here else {dm})
            status = result.split(":", 1)[1] if result.startswith("command:") else result
            outcomes[status] += 1
            where = f"@{who} in {rid}: {text[:80]!r} -> {result}"
            if result == "error":
                problems.append(f"{where}: the dispatcher failed: {errors.records[-1:]}")
            for reply in said_since(desk, start, {rid, dm}):
                if "Traceback" in reply or reply.startswith("Something went wrong"):
                    problems.append(f"{where}: {reply!r} {errors.records[-1:]}")
            if result.startswith("command:") and status not in NOT_ANSWERED and not said:
                problems.append(f"{where}: no answer")
            strays = [d for d in answers.dests[first_answer:] if d[0] != (rid if here else dm)]
            if strays:
                problems.append(f"{where}: answered in {strays}")
            if result.startswith("command:") and status != "ok":
                after = desk.snapshot()
                changed = [t for t in before if before[t] != after.get(t)]
                if changed == ["console_threads"] and thread_opened(
                    desk, who, rid, before["console_threads"], after["console_threads"]
                ):
                    changed = []  # the console thread its answer went to (issue 16)
                if changed:
                    problems.append(f"{where}: refused but changed {changed}")
            assert not problems, "\n".join(problems[:5])

    try:
        run()
    finally:
        logging.getLogger().removeHandler(errors)
        desk.close()
    print(f"\n[fuzz-commands] {sum(outcomes.values())} lines: {dict(outcomes.most_common())}")
    assert outcomes["ok"] > 0 and sum(v for k, v in outcomes.items() if k != "ok") > 0
