"""Commands sent while the bot was away are all answered after it starts, rate limit or not
(catch-up replays are exempt), while a live flood is still limited."""

from __future__ import annotations

from typing import Any

LIMIT = 3
#: a long window, so the live flood below is certainly inside it however slow the machine
RATE = {"commands": {"rate_limit": {"count": LIMIT, "per": "10m"}}}
TEXTS = [("/help help" if n % 2 else "/help") for n in range(LIMIT + 4)]
TOO_QUICKLY = "Too many commands at once"


def test_commands_sent_while_stopped_are_all_answered_once_in_order(make_chat: Any) -> None:
    chat = make_chat(config=RATE)
    alice, bob = chat.user("alice"), chat.user("bob")
    # what each text gets in a calm moment (bob: alice's budget stays untouched)
    expected = {text: bob.dm_bot(text) for text in set(TEXTS)}
    rid = alice.bot_dm

    chat.stop_bot()
    sent = [alice.say(rid, text) for text in TEXTS]  # more than the limit
    chat.start_bot()
    chat.wait_bot_messages(rid, len(TEXTS), after=sent[0].id, timeout=20)
    chat.idle()
    replies = alice.replies(rid, after_msg_id=sent[0].id)
    assert replies == [expected[text] for text in TEXTS]

    # A live flood is still limited: the limit's worth of answers, then each refused command
    # is named. (The replays did not count: the whole budget is there.)
    first = alice.say(rid, "/help")
    for _ in range(LIMIT + 1):
        alice.say(rid, "/help")
    chat.wait_bot_messages(rid, LIMIT + 2, after=first.id, timeout=20)
    chat.idle()
    live = alice.replies(rid, after_msg_id=first.id)
    assert live[:LIMIT] == [expected["/help"]] * LIMIT
    assert len(live) == LIMIT + 2
    assert all(r.startswith(TOO_QUICKLY) and "I did not run `/help`" in r for r in live[LIMIT:])

    # and a restart replays nothing: none of it is answered again
    before = len(chat.bot_messages(rid))
    chat.restart_bot()
    chat.idle()
    assert len(chat.bot_messages(rid)) == before
