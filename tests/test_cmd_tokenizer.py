from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cmd import BadArgument, tokenize


def words(line: str) -> list[tuple[str, str, str | None]]:
    return [(t.kind, t.key, t.value) for t in tokenize(line)]


def test_double_quotes_group_words():
    assert words('"solved by reset" done') == [
        ("word", "", "solved by reset"),
        ("word", "", "done"),
    ]


def test_single_quotes_and_escaped_quotes():
    assert words('\'a b\' "say \\"hi\\""') == [("word", "", "a b"), ("word", "", 'say "hi"')]


def test_apostrophe_inside_a_word_is_literal():
    assert words("don't know") == [("word", "", "don't"), ("word", "", "know")]


def test_typographic_quotes_from_phone_keyboards():
    assert words("“solved by reset” ok") == [("word", "", "solved by reset"), ("word", "", "ok")]


def test_backslashes_other_than_quote_escapes_are_kept():
    assert words(r"\d+ C:\temp") == [("word", "", r"\d+"), ("word", "", r"C:\temp")]


def test_options_anywhere_with_quoted_values():
    line = 'tags=billing,refund "solved by reset" topic="a b" +pdf +email=x@y.z last'
    assert words(line) == [
        ("option", "tags", "billing,refund"),
        ("word", "", "solved by reset"),
        ("option", "topic", "a b"),
        ("flag", "pdf", None),
        ("flag", "email", "x@y.z"),
        ("word", "", "last"),
    ]


def test_plus_number_and_urls_are_words():
    assert words("+1 https://x.y/?a=b") == [
        ("word", "", "+1"),
        ("word", "", "https://x.y/?a=b"),
    ]


def test_token_positions_index_the_line():
    line = 'a  "b c"\n d'
    assert [line[t.start : t.end] for t in tokenize(line)] == ["a", '"b c"', "d"]


@pytest.mark.parametrize("line", ['close "solved by', "x='open", 'topic="a b'])
def test_unclosed_quote_is_a_bad_argument(line):
    with pytest.raises(BadArgument, match="Unclosed quote"):
        tokenize(line)


@given(st.text(max_size=60))
def test_tokenizer_never_crashes(line):
    try:
        tokens = tokenize(line)
    except BadArgument:
        return
    for tok in tokens:
        assert 0 <= tok.start < tok.end <= len(line)
