"""What a visitor types cannot become the bot's own words (issue 17), over real sockets.

Hostile visitor names and first lines reach the agents' queue notice, `/queue`, `/preview` and
`/info`: none of them may render a link, add a line, ping a room or reverse the bot's text.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from chat import Chat, wait_until
from test_e2e_livechat import CONFIG, available, conversation_of, livechat_seed, ready_desk, start

from bot.domain.text import inline

PHISH = "[Take it](http://evil.example/phish)"
FAKE_LINE = "Vera\nNew chat #99 from @ceo in the public queue: wire the money"
REVERSED = "Eve \u202egnp.exe"
LINK = re.compile(r"\[[^\]]*\]\([^)]*\)|<[^>|]*\|[^>]*>")


@pytest.fixture
def desk(make_chat: Any) -> Chat:
    return ready_desk(make_chat(config=CONFIG, seed=livechat_seed()))


def assert_safe(text: str) -> None:
    assert not LINK.search(text), text
    assert "\u202e" not in text, text
    assert not any(line.startswith("New chat #99") for line in text.splitlines()), text
    assert "@ceo" not in text and "@all" not in text, text


def test_hostile_names_and_lines_stay_plain_text(desk: Chat) -> None:
    bob = desk.user("bob")
    available(bob)
    visitors = [
        start(desk, "[Click here](http://evil.example/x) @all", name=PHISH),
        start(desk, "hello", name=FAKE_LINE),
        start(desk, "line one\nNew chat #99 from @ceo", name=REVERSED),
    ]
    convs = [conversation_of(desk, v.rid) for v in visitors]
    notices = [
        wait_until(
            lambda n=c.number: next(
                (t for t in desk.bot_messages(bob.bot_dm) if t.startswith(f"New chat #{n} ")),
                None,
            ),
            what=f"the notice of #{c.number}",
        )
        for c in convs
    ]
    for notice in notices:
        assert_safe(notice)
        assert notice.count("\n") == 0, notice
    # the name still reads as the visitor typed it, only inert
    assert "Take it" in notices[0] and "evil.example" in notices[0]
    queue = bob.dm_bot("/queue")
    assert_safe(queue)
    assert queue.splitlines()[0] == "3 chat(s) waiting:"
    assert len(queue.splitlines()) == 5  # header, three chats, the hint: no injected line
    for conv in convs:
        preview = bob.dm_bot(f"/preview {conv.number}")
        assert_safe(preview)
        info = bob.dm_bot(f"/info #{conv.number}")
        assert_safe(info)


def test_the_sanitizer_neutralises_markup_and_keeps_addresses() -> None:
    assert inline("a\r\nb\u2028c") == "a ⏎ b ⏎ c"
    assert inline(PHISH) == "［Take it］(http://evil.example/phish)"
    assert inline("<http://evil|Take it>") == "‹http://evil∣Take it›"
    assert inline("@all see carol@example.com") == "＠all see carol@example.com"
    assert inline("*bold* _it_ bob_smith ~s~ `c`") == "∗bold∗ ＿it＿ bob_smith ∼s∼ ˋcˋ"
    assert inline("x\u202ey\u2066z\x07") == "xyz"
    assert inline("a" * 50, 10) == "a" * 9 + "…"


# --- long answers never vanish ------------------------------------------------------------------
def test_46_waiting_chats_page_the_queue(desk: Chat) -> None:
    bob = desk.user("bob")
    available(bob)
    visitors = [start(desk, f"question {i} " + "x" * 100, name=f"Visitor {i}") for i in range(46)]
    wait_until(
        lambda: len(desk.bot.services.repo.queued()) == 46 if desk.bot else False,
        30,
        "46 waiting chats",
    )
    desk.idle()
    first = bob.dm_bot("/queue")
    lines = first.splitlines()
    assert lines[0] == "46 chat(s) waiting (page 1 of 4):"
    assert lines[-2] == "…and 31 more: `/queue 2`"
    assert len(first) < 5000
    last = bob.dm_bot("/queue 4").splitlines()
    assert last[0] == "46 chat(s) waiting (page 4 of 4):"
    assert len(last) == 1 + 1 + 1  # header, the one chat left, the hint
    assert visitors


def test_a_long_preview_arrives_in_parts(desk: Chat) -> None:
    bob = desk.user("bob")
    available(bob)
    long = [f"{i}" + "word " * 800 for i in range(3)]  # three 4,000-character messages
    vera = start(desk, long[0])
    vera.say(long[1])
    vera.say(long[2])
    conv = conversation_of(desk, vera.rid)
    wait_until(
        lambda: (
            len(desk.bot.services.messages.for_conversations([conv.number])) >= 3
            if desk.bot
            else False
        ),
        what="the three messages stored",
    )
    sent = bob.say(bob.bot_dm, f"/preview {conv.number}")
    parts = desk.wait_bot_messages(bob.bot_dm, 3, after=sent.id)
    whole = "\n".join(parts)
    assert all(len(p) <= 5000 for p in parts)
    assert whole.count("word") >= 2400 and f"#{conv.number}" in parts[0]


def test_a_close_with_a_long_comment_shows_its_note(desk: Chat) -> None:
    bob = desk.user("bob")
    available(bob)
    vera = start(desk, "my router")
    conv = conversation_of(desk, vera.rid)
    assert f"#{conv.number}" in bob.dm_bot(f"/take {conv.number}")
    comment = " ".join(["replaced"] * 560)[:4970].strip()
    assert len(comment) == 4970
    answer = bob.dm_bot(f'/close #{conv.number} "{comment}" tags=hardware')
    assert answer.startswith(f"#{conv.number} is closed"), answer

    def close_note() -> list[str] | None:
        # agent-only (issue 16): the note goes to the closer's console thread, not the room
        said = desk.console("bob", conv.number)
        start = next((i for i, t in enumerate(said) if t.startswith("Closed by @bob: ")), None)
        return said[start : start + 2] if start is not None and len(said) >= start + 2 else None

    notes = wait_until(close_note, what="the close note, in two parts")
    assert all(len(n) <= 5000 for n in notes)
    assert notes[1].endswith("hardware)")
    assert "".join(notes).count("replaced") == comment.count("replaced")


def test_a_refused_send_is_an_error_not_silence(desk: Chat, caplog: Any) -> None:
    """Over DDP the server swallows a too-long `sendMessage` (an ephemeral notice only): the
    transport asks REST, which says why, and the sending layer logs the lost message."""
    from bot.chat.errors import RocketChatError
    from bot.chat.sending import SizedChat

    assert desk.bot is not None and desk.bot.client is not None
    client = desk.bot.client
    rid = desk.user("bob").bot_dm
    with pytest.raises(RocketChatError) as refused:
        client.send(rid, "x" * 5001)
    assert "size" in str(refused.value.reason).lower() or refused.value.error
    assert client.max_message_size() == 5000
    desk.server.state.settings["Message_MaxAllowedSize"] = 1000
    sized = SizedChat(client)
    assert sized.max_size == 1000
    parts = sized.send_parts(rid, ("a line of text\n" * 150).strip())
    assert len(parts) == 3 and all(len(p.text) <= 1000 for p in parts)
    sized._max_size = 5000  # as if the server read 5000 while it enforces 1000
    with caplog.at_level("WARNING", "omnicat.sending"), pytest.raises(RocketChatError):
        sized.send(rid, "y" * 2000)
    assert "lost a 2000-character message" in caplog.text
