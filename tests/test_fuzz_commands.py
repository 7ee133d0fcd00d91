"""Fuzz (issue 7): random command lines from every role against the real registry, workflow and
SQLite store (the chat is `FakeChat`). For every line:

- the dispatcher never crashes and no user ever sees a traceback or "Something went wrong" (an
  unexpected exception is a bug: the line prints with the logged traceback);
- a line that is a command gets an answer in the room it was typed in;
- a command that did not succeed (refused, bad argument, denied, wrong place, unknown) changes
  no state table (the store is snapshotted before and after; dedupe/cursor/cache tables aside).
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


class Ref(logging.Handler):
    """Keep the logged tracebacks so a failing line shows why."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_random_command_lines_from_every_role(tmp_path: Path) -> None:
    desk = FuzzDesk(tmp_path)
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
            result, said = desk.say(who, rid, text)
            status = result.split(":", 1)[1] if result.startswith("command:") else result
            outcomes[status] += 1
            where = f"@{who} in {rid}: {text[:80]!r} -> {result}"
            if result == "error":
                problems.append(f"{where}: the dispatcher failed: {errors.records[-1:]}")
            for reply in said:
                if "Traceback" in reply or reply.startswith("Something went wrong"):
                    problems.append(f"{where}: {reply!r} {errors.records[-1:]}")
            if result.startswith("command:") and status not in NOT_ANSWERED and not said:
                problems.append(f"{where}: no answer")
            if result.startswith("command:") and status != "ok":
                after = desk.snapshot()
                changed = [t for t in before if before[t] != after.get(t)]
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
