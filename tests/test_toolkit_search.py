"""`/search`, `/history` and `/files` through the dispatcher, over messages the bot stored
(edits and deletions included)."""

from __future__ import annotations

import pytest
from test_toolkit_desk import Desk


@pytest.fixture
def room(tmp_path):
    d = Desk(tmp_path)
    conv = d.serving("carol", "alice", text="hello there")
    msgs = {
        "e404": d.post("carol", conv.rid, "My order failed with error404 again"),
        "e500": d.post("alice", conv.rid, "Let me check: I see ERROR500 on our side"),
        "invoice": d.post("carol", conv.rid, "Also the invoice is wrong"),
    }
    yield d, conv, msgs
    d.close()


def test_regex_plain_words_and_flags(room) -> None:
    d, conv, _ = room
    rid = conv.rid
    found = d.cmd("alice", rid, r"/search error\d{3}")
    lines = found.splitlines()
    assert lines[0] == f"2 messages in #{conv.number} match 'error\\\\d{{3}}' (newest first):"
    assert lines[1].endswith("@alice: Let me check: I see *ERROR500* on our side")
    assert lines[2].endswith("@carol: My order failed with *error404* again")
    assert (
        d.cmd("alice", rid, "/search the invoice")
        .splitlines()[1]
        .endswith("@carol: Also *the invoice* is wrong")
    )
    assert d.cmd("alice", rid, "/search (?-i)ERROR").startswith("1 message in")
    assert d.cmd("alice", rid, "/search error").startswith("2 messages in")
    assert (
        d.cmd("alice", rid, '/search "with error"')
        .splitlines()[1]
        .endswith("failed *with error*404 again")
    )
    by_carol = d.cmd("alice", rid, "/search error from:@carol").splitlines()
    assert len(by_carol) == 2 and "@carol:" in by_carol[1]
    capped = d.cmd("alice", rid, "/search e limit:1").splitlines()
    assert len(capped) == 3 and capped[-1] == "…and 3 more (limit:N shows more)."
    # the opening message (written in the DM) belongs to the conversation too
    assert "@carol: *hello* there" in d.cmd("alice", rid, "/search hello")


def test_hostile_and_invalid_patterns(room) -> None:
    d, conv, _ = room
    d.post("carol", conv.rid, "a" * 5000 + "!")
    assert d.cmd("alice", conv.rid, "/search (a+)+$") == (
        f"No messages in #{conv.number} match '(a+)+$'."
    )
    bad = d.cmd("alice", conv.rid, "/search (foo")
    assert bad.startswith("Invalid pattern '(foo': missing )")
    assert "escape it: \\(foo" in bad
    assert "look-ahead" in d.cmd("alice", conv.rid, "/search foo(?=bar)")
    assert d.cmd("alice", conv.rid, "/search x*") == (
        "The pattern 'x*' matches empty text, so it would match every message."
    )
    assert d.cmd("alice", conv.rid, "/search foo limit:0").startswith("'limit:0': the limit")


def test_edits_and_deletions_are_respected(room) -> None:
    d, conv, msgs = room
    d.edit(msgs["invoice"], "Also the bill is wrong")
    assert d.cmd("alice", conv.rid, "/search invoice") == (
        f"No messages in #{conv.number} match 'invoice'."
    )
    assert d.cmd("alice", conv.rid, "/search bill").startswith("1 message")
    d.delete(msgs["e404"])
    assert d.cmd("alice", conv.rid, r"/search error\d+").startswith("1 message")


def test_in_all_history_and_access(room) -> None:
    d, first, _ = room
    d.close_conv(first.number, comment="printer fixed")
    d.dm("alice", "/status off")  # carol is a returning contact: she'd go back to alice
    second = d.serving("carol", "bob", text="the invoice again")
    d.post("carol", second.rid, "The INVOICE total is off")
    assert d.cmd("bob", second.rid, "/search invoice").startswith("2 messages in #")
    every = d.cmd("bob", second.rid, "/search invoice in:all").splitlines()
    assert every[0] == "3 messages in @carol's conversations match 'invoice' (newest first):"
    assert every[1].startswith(f"#{second.number} ") and every[3].startswith(f"#{first.number} ")
    # from the DM, another conversation by number; and not for someone outside the department
    assert d.dm("alice", f"/search in:#{first.number} invoice").startswith("1 message")
    # opening a closed chat of another agent needs view-livechat-room-closed-* (rules §7, §10)
    assert d.dm("bob", f"/search in:#{first.number} invoice") == (
        f"There is no conversation #{first.number} you can see."
    )
    assert d.dm("bob", "/search invoice").startswith("Which conversation?")
    assert d.dm("carl", f"/search in:#{first.number} invoice") == (
        f"There is no conversation #{first.number}."
    )
    # history: newest first, closed only, with the agent, comment and last message
    hist = d.cmd("bob", second.rid, "/history").splitlines()
    assert hist[0] == "Earlier conversations of @carol (newest first):"
    assert hist[1].startswith(f"#{first.number} ") and '@alice · "printer fixed"' in hist[1]
    assert hist[2] == "    last: @carol: Also the invoice is wrong"
    hits = d.cmd("bob", second.rid, "/history error\\d+").splitlines()
    assert hits[0] == "Earlier conversations of @carol matching 'error\\\\d+' (newest first):"
    assert hits[1].endswith("— 2 matching messages")
    assert hits[2].endswith("@alice: Let me check: I see *ERROR500* on our side")
    assert d.cmd("bob", second.rid, "/history nothing-like-this") == (
        "No earlier conversation of @carol matches 'nothing-like-this'."
    )
    assert d.dm("bob", "/history @carol").startswith("Earlier conversations of @carol")
    assert d.dm("bob", "/history @dave") == "@dave has no earlier conversations you can see."


def test_history_orders_newest_first_and_keeps_untaken(tmp_path) -> None:
    d = Desk(tmp_path)
    try:
        numbers = []
        for text in ("first question", "second question", "third question"):
            conv = d.serving("carol", None, text=text)  # nobody takes it
            d.cmd("maria", d.chat.dm_room("maria"), f"/close #{conv.number} spam")
            numbers.append(conv.number)
        assert d.conv(numbers[0]).state.value == "closed"
        lines = [ln for ln in d.dm("maria", "/history @carol").splitlines() if ln[0] == "#"]
        assert [ln.split()[0] for ln in lines] == [f"#{n}" for n in reversed(numbers)]
        assert all("never taken" in ln for ln in lines)
        second = d.dm("maria", "/history @carol second").splitlines()
        assert second[1].startswith(f"#{numbers[1]} ") and len(second) == 3
    finally:
        d.close()


def test_files_type_filters_and_query(room) -> None:
    d, conv, _ = room
    rid = conv.rid
    assert d.cmd("alice", rid, "/files") == f"No files in #{conv.number}."
    d.upload("carol", rid, "screenshot.png", "image/png", 2048, "the error screen")
    d.upload("carol", rid, "invoice-march.pdf", "application/pdf", 5 * 1024 * 1024)
    d.upload("alice", rid, "howto.mp4", "video/mp4", 300)
    everything = d.cmd("alice", rid, "/files").splitlines()
    assert everything[0] == f"3 files in #{conv.number} (newest first):"
    assert everything[1].startswith("howto.mp4 (video, video/mp4, 300 B) by @alice")
    assert everything[2] == "    http://chat.example/file-upload/f-howto.mp4/howto.mp4"
    images = d.cmd("alice", rid, "/files image").splitlines()
    assert len(images) == 3 and images[1].startswith("screenshot.png (image, image/png, 2.0 KB)")
    assert images[1].endswith("— the error screen")
    assert (
        d.cmd("alice", rid, "/files document")
        .splitlines()[1]
        .startswith("invoice-march.pdf (document, application/pdf, 5.0 MB)")
    )
    assert d.cmd("alice", rid, "/files image/*").startswith("1 file")
    assert d.cmd("alice", rid, "/files audio") == f"No matching files in #{conv.number}."
    assert d.cmd("alice", rid, "/files march").splitlines()[1].startswith("invoice-march.pdf")
    assert d.cmd("alice", rid, "/files error screen").splitlines()[1].startswith("screenshot.png")
    assert d.cmd("alice", rid, "/files image invoice") == f"No matching files in #{conv.number}."
    assert d.dm("alice", f"/files #{conv.number} video").startswith("1 file")
