"""The sending layer's pure parts: splitting long text and paging lists (bot/chat/sending.py)."""

from __future__ import annotations

from bot.chat.sending import CONTINUED, page_lines, split_text


def test_short_text_is_one_part() -> None:
    assert split_text("hello", 5000) == ["hello"]


def test_lines_stay_whole_when_they_fit() -> None:
    lines = [f"line {i} " + "x" * 90 for i in range(100)]
    parts = split_text("\n".join(lines), 1000)
    assert all(len(p) <= 1000 for p in parts)
    assert "\n".join(parts).splitlines() == lines  # cut only at line breaks: nothing lost


def test_a_long_line_is_cut_at_spaces_and_marked() -> None:
    words = " ".join(f"w{i}" for i in range(2000))
    parts = split_text(words, 500)
    assert len(parts) > 1 and all(len(p) <= 500 for p in parts)
    assert parts[0].endswith(CONTINUED) and parts[1].startswith(CONTINUED)
    rebuilt = " ".join(p.strip(CONTINUED) for p in parts).split()
    assert rebuilt == words.split()


def test_a_line_without_spaces_is_cut_anyway() -> None:
    parts = split_text("y" * 12000, 5000)
    assert all(len(p) <= 5000 for p in parts)
    assert "".join(p.strip(CONTINUED) for p in parts) == "y" * 12000


def test_pages() -> None:
    lines = [str(i) for i in range(46)]
    more = lambda left, after: f"…and {left} more: `/queue {after}`"  # noqa: E731
    first, pages = page_lines(lines, page=1, per_page=15, more=more)
    assert pages == 4 and first[-1] == "…and 31 more: `/queue 2`" and first[:15] == lines[:15]
    last, _ = page_lines(lines, page=4, per_page=15, more=more)
    assert last == ["45"]
    beyond, _ = page_lines(lines, page=99, per_page=15, more=more)
    assert beyond == ["45"]
