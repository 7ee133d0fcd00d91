"""Exactly once (issue 20): a batch of events the bot already answered (a close, a known and an
unknown command, a PDF and an e-mail transcript request) is handled again (their processed
marks lost and the room cursors rewound to before them, as after a kill between the replies and
the marks); no reply, transcript or e-mail reaches anyone a second time.

The replies carry ids derived from their event (`bot.chat.effect_scope`) and the dev server
refuses a second message under an existing `_id`, as Rocket.Chat does; the PDF upload and the
e-mail are in the effect journal (`bot.store.effects`).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from chat import Chat, wait_until
from test_e2e_transcripts import config, open_and_take, smtp, wait_pdf  # noqa: F401

from bot.store.schema_runtime import processed_messages, room_cursors


def _bot_messages(desk: Chat) -> Counter[tuple[str, str]]:
    """(room, text) of every message the bot has in any room, with how many copies."""
    state = desk.server.state
    return Counter(
        (rid, str(m.get("msg") or "") + "|" + str(bool(m.get("file"))))
        for rid in list(state.messages)
        for m in desk.messages(rid)
        if (m.get("u") or {}).get("username") == desk.bot_username and not m.get("t")
    )


def _count_marks(desk: Chat) -> int:
    with desk.store.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(processed_messages)).scalar() or 0
        )


def test_replaying_answered_events_sends_nothing_twice(make_chat: Any, smtp: Any) -> None:  # noqa: F811
    inbox, port = smtp
    desk = make_chat(config=config(port))
    bob, maria = desk.user("bob"), desk.user("maria")
    conv = open_and_take(desk, "carol", "support", "bob", "Please answer me once")
    n = conv.number
    desk.idle()
    batch_start = datetime.now(UTC)  # the batch: everything from here on is replayed
    time.sleep(0.05)
    # closed from bob's DM: a command typed in the case room is deleted there (issue 16: the
    # contact reads the room), so a replay of the room would find no command to run again
    assert bob.dm_bot(f'/close #{n} "sorted out"').startswith(f"#{n} is closed.")
    wait_until(lambda: desk.bot.services.repo.get(n).state.value == "closed", what="closed")
    assert "/take" in bob.dm_bot("/help")
    assert bob.dm_bot("/nosuchcommand")  # answered (unknown command), once
    bob.dm_bot(f"/transcript pdf #{n}")
    wait_pdf(desk, bob, 1)
    maria.dm_bot(f"/transcript email #{n} carol@example.test Once only")
    wait_until(lambda: inbox.messages, 30, "the e-mail")
    wait_until(
        lambda: any("was e-mailed to" in t for t in desk.console("maria", n)),
        what="maria's note in her console thread",
    )
    desk.idle()
    before = _bot_messages(desk)
    assert all(count == 1 for count in before.values()), before
    handled = _count_marks(desk)

    # Forget the batch was handled: a restart replays every room from before its first line.
    url = str(desk.store.engine.url)
    desk.stop_bot()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        forgotten = conn.execute(
            processed_messages.delete().where(processed_messages.c.processed_at >= batch_start)
        ).rowcount
        conn.execute(
            room_cursors.update()
            .where(room_cursors.c.last_ts >= batch_start)
            .values(last_ts=batch_start - timedelta(milliseconds=1))
        )
    engine.dispose()
    assert forgotten >= 5  # the close, /help, the unknown word, the PDF and the e-mail
    desk.start_bot()
    desk.idle()
    # the replay did run the handlers again (the marks are back) ...
    wait_until(lambda: _count_marks(desk) >= handled, what="the batch marked again")
    desk.idle()
    time.sleep(3)  # ... and the slow pool had its chance to re-upload or re-mail
    after = _bot_messages(desk)
    assert after == before, sorted(set(after.items()) - set(before.items()))
    assert len(inbox.messages) == 1
