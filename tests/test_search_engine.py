"""Search: regex and plain words, flags, scope, author, limit, hostile and invalid patterns,
edits and deletions, and the rendering of a hit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.chat.types import Message, UserRef
from bot.services.search import (
    InvalidPattern,
    compile_pattern,
    format_result,
    mark_line,
    search,
)
from bot.store import Store
from bot.store.messages import MessageRepo

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def msg(mid: str, text: str, *, rid: str = "R1", user: str = "carol", at: int = 0, **kw) -> Message:
    edited = kw.pop("edited", None)
    return Message(
        id=mid,
        rid=rid,
        text=text,
        ts=T0 + timedelta(seconds=at),
        author=UserRef(f"id-{user}", user),
        edited_at=T0 + timedelta(seconds=edited) if edited is not None else None,
        **kw,
    )


@pytest.fixture
def repo(tmp_path) -> MessageRepo:
    repo = MessageRepo(Store(f"sqlite:///{tmp_path / 'omnicat.db'}"))
    repo.upsert_many(
        [
            msg("m1", "Hello, my printer shows error404 again", at=1),
            msg("m2", "Which model is it?", user="alice", at=2),
            msg("m3", "HP LaserJet, ERROR503 this time", at=3),
            msg("m4", "Try turning it off and on.\nThen check the Error log", user="alice", at=4),
            msg("m5", "Printer fixed, thanks!", at=5),
            msg("x1", "another room: printer error 1", rid="R2", at=6),
        ]
    )
    return repo


def ids(result) -> list[str]:
    return [hit.msg_id for hit in result.hits]


def test_plain_words_case_insensitive_newest_first(repo: MessageRepo) -> None:
    result = search(repo, "printer", rids=["R1"])
    assert ids(result) == ["m5", "m1"] and result.total == 2 and result.more == 0
    hit = result.hits[1]
    assert hit.author == "carol" and hit.rid == "R1" and hit.ts == T0 + timedelta(seconds=1)
    assert [hit.text[s:e] for s, e in hit.spans] == ["printer"]


def test_regex(repo: MessageRepo) -> None:
    result = search(repo, r"error\d{3}", rids=["R1"])
    assert ids(result) == ["m3", "m1"]
    assert [result.hits[0].text[s:e] for s, e in result.hits[0].spans] == ["ERROR503"]
    assert ids(search(repo, r"^then\b", rids=["R1"])) == ["m4"]  # ^ is a line anchor
    assert ids(search(repo, r"thanks!$", rids=["R1"])) == ["m5"]


def test_flags(repo: MessageRepo) -> None:
    assert ids(search(repo, r"(?-i)ERROR\d+", rids=["R1"])) == ["m3"]
    sensitive = compile_pattern("Error", ignore_case=False)
    assert ids(search(repo, sensitive, rids=["R1"])) == ["m4"]
    assert ids(search(repo, compile_pattern("(?i)error log", ignore_case=False), rids=["R1"])) == [
        "m4"
    ]


def test_no_match_spans_two_messages_or_lines(repo: MessageRepo) -> None:
    # "again" ends m1 and "Which" starts m2; "on." ends a line of m4.
    assert search(repo, r"again\s+which", rids=["R1"]).total == 0
    assert search(repo, r"again[^x]which", rids=["R1"]).total == 0
    assert search(repo, r"on\.\s*Then", rids=["R1"]).total == 0


def test_scope_all_rooms_and_several(repo: MessageRepo) -> None:
    both = search(repo, "printer", rids=["R1", "R2"])
    assert ids(both) == ["x1", "m5", "m1"] and both.by_room == {"R1": 2, "R2": 1}
    assert search(repo, "printer").total == 3  # every stored room
    assert search(repo, "printer", rids=[]).total == 0


def test_author_filter(repo: MessageRepo) -> None:
    assert ids(search(repo, "e", rids=["R1"], author="alice")) == ["m4", "m2"]
    assert ids(search(repo, "e", rids=["R1"], author="@alice")) == ["m4", "m2"]
    assert search(repo, "printer", rids=["R1"], author="alice").total == 0


def test_limit_and_more(repo: MessageRepo) -> None:
    result = search(repo, "[a-z]", rids=["R1"], limit=2)
    assert ids(result) == ["m5", "m4"] and result.total == 5 and result.more == 3
    assert format_result(result).endswith("…and 3 more")
    assert format_result(search(repo, "zebra", rids=["R1"])) == "No matches."


def test_hostile_pattern_completes(repo: MessageRepo) -> None:
    repo.upsert(msg("h1", "a" * 50_000 + "!", at=10))
    assert search(repo, "(a+)+$", rids=["R1"]).total == 0
    assert ids(search(repo, "(a+)+!$", rids=["R1"])) == ["h1"]
    assert search(repo, "(x+x+)+y", rids=["R1"]).total == 0


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("error(", "missing )"),
        ("(a)\\1", "back-references"),
        ("(?=x)a", "look-ahead"),
        ("*help", "escape it: \\*help"),
        ("x*", "matches empty text"),
        ("   ", "empty"),
    ],
)
def test_invalid_pattern_explained(pattern: str, expected: str) -> None:
    with pytest.raises(InvalidPattern) as caught:
        compile_pattern(pattern)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_edits_and_deletions_respected(repo: MessageRepo) -> None:
    assert search(repo, "model", rids=["R1"]).total == 1
    repo.upsert(msg("m2", "Which version is it?", user="alice", at=2, edited=20))
    assert search(repo, "model", rids=["R1"]).total == 0
    assert ids(search(repo, "version", rids=["R1"])) == ["m2"]
    repo.upsert(msg("m1", "", at=1, edited=30, type="rm"))
    assert ids(search(repo, r"error\d", rids=["R1"])) == ["m3"]
    repo.upsert(msg("m6", "a new printer message", at=40))
    assert ids(search(repo, "printer", rids=["R1"])) == ["m6", "m5"]


def test_system_messages_not_searched(repo: MessageRepo) -> None:
    repo.upsert(msg("s1", "printer-bot joined", user="bot", at=50, type="uj"))
    assert search(repo, "joined", rids=["R1"]).total == 0


def test_unicode_offsets(repo: MessageRepo) -> None:
    repo.upsert(msg("u1", "Ünïcödé — café crème ERROR42 ✓", rid="R3", at=1))
    hit = search(repo, r"crème\s+error\d+", rids=["R3"]).hits[0]
    assert [hit.text[s:e] for s, e in hit.spans] == ["crème ERROR42"]


def test_mark_line_marks_and_trims() -> None:
    text = "intro line\n" + "x" * 300 + " the *bold* error404 here " + "y" * 300
    pattern = compile_pattern(r"error\d+")
    line = mark_line(text, pattern.spans(text), width=80)
    assert "*error404*" in line and line.startswith("…") and line.endswith("…")
    assert "∗bold∗" in line  # the user's own markup cannot break ours
    assert len(line) <= 84
    spaced = mark_line("say hello world", compile_pattern(r"\shello\s").spans("say hello world"))
    assert spaced == "say *hello* world"


def test_mark_line_does_not_mark_every_character() -> None:
    """`/search .` matches each character: the line is shown unmarked, not `*H**i*`."""
    text = "Hi Vera"
    assert mark_line(text, compile_pattern(".").spans(text)) == "Hi Vera"
    assert mark_line(text, compile_pattern(".+").spans(text)) == "Hi Vera"
    assert mark_line(text, [(0, 0), (3, 3)]) == "Hi Vera"  # empty spans mark nothing
    assert mark_line(text, compile_pattern("[a-z]").spans(text)) == "Hi Vera"
    assert mark_line(text, compile_pattern("[a-i]").spans(text)) == "*Hi* V*e*r*a*"
    # a user's link and direction override stay inert around our marks
    hostile = "see [Take it](http://evil.example) \u202eerror7"
    marked = mark_line(hostile, compile_pattern(r"error\d").spans(hostile))
    assert marked == "see ［Take it］(http://evil.example) *error7*"


def test_repo_per_command_shares_the_index_and_sees_writes(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'shared.db'}")
    MessageRepo(store).upsert(msg("a1", "first printer", at=1))
    assert search(MessageRepo(store), "printer", rids=["R1"]).total == 1
    MessageRepo(store).upsert(msg("a2", "second printer", at=2))  # another repo, same store
    assert ids(search(MessageRepo(store), "printer", rids=["R1"])) == ["a2", "a1"]


def test_concurrent_writes_and_searches(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'busy.db'}")
    errors: list[BaseException] = []

    def writer(room: str) -> None:
        try:
            repo = MessageRepo(store)
            for i in range(40):
                repo.upsert(msg(f"{room}-{i}", f"ping {i}", rid=room, at=i))
        except BaseException as error:  # reported below
            errors.append(error)

    def reader() -> None:
        try:
            for _ in range(40):
                search(MessageRepo(store), r"ping \d+", rids=["A", "B"])
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(r,)) for r in ("A", "B")]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert search(MessageRepo(store), r"ping \d+", rids=["A", "B"]).total == 80


def test_room_write_counters_are_bounded_and_an_evicted_room_is_searched_afresh(
    repo: MessageRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: the per-room write counters (search buffers' freshness) keep a bounded number
    of rooms; a room evicted and written again must not read as the generation its buffer has
    (a counter restarting from zero would, and the new message would never be found)."""
    from bot.store import messages

    monkeypatch.setattr(messages, "ROOMS_COUNTED", 3)
    assert ids(search(repo, "printer", rids=["R1"])) == ["m5", "m1"]  # R1's buffer is built
    for n in range(5):  # more rooms than the bound: R1's counter goes
        repo.upsert(msg(f"o{n}", "other room", rid=f"O{n}", at=10 + n))
    assert len(repo._counters.by_room) <= 3 and "R1" not in repo._counters.by_room
    repo.upsert(msg("m6", "printer works again", at=20))
    assert ids(search(repo, "printer", rids=["R1"])) == ["m6", "m5", "m1"]
    for n in range(5):  # evicted again, not written: searched afresh, the same hits
        repo.upsert(msg(f"p{n}", "other room", rid=f"P{n}", at=30 + n))
    assert ids(search(repo, "printer", rids=["R1"])) == ["m6", "m5", "m1"]
