"""Livechat conversations with the rest of the toolkit, and people acting in Rocket.Chat's own UI:
`/info`, `/invite`, `/history`, `!canned`, a transfer or a close made in Rocket.Chat (followed,
never fought), and the bot's start-up when Rocket.Chat will not make it available."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from chat import Chat, deep_merge, wait_until
from test_e2e_livechat import (
    CONFIG,
    available,
    conversation_of,
    livechat_seed,
    members,
    ready_desk,
    start,
    state_of,
)

from bot.domain import State

TOOLKIT = deep_merge(
    CONFIG,
    {"canned": [{"shortcut": "greet", "text": "Hello {{contact.name}}, I'm {{agent.name}}. Hi!"}]},
)


@pytest.fixture
def desk(make_chat: Any) -> Chat:
    return ready_desk(make_chat(config=TOOLKIT, seed=livechat_seed()))


def test_info_invite_history_and_canned_work_on_a_livechat_chat(desk: Chat) -> None:
    bob, erin = desk.user("bob"), desk.user("erin")
    available(bob, erin)
    vera = start(desk, "My modem is slow", email="vera@example.test")
    conv = conversation_of(desk, vera.rid)
    n = conv.number
    bob.dm_bot(f"/take {n}")
    wait_until(lambda: "bob" in members(desk, vera.rid), 10, "bob in the room")

    info = bob.dm_bot(f"/info #{n}")
    assert "Vera Visitor" in info and f"#{n}" in info

    # a canned response in the livechat room reaches the visitor
    bob.say(vera.rid, "!greet")
    vera.wait_for("Hello Vera Visitor, I'm Bob Agent. Hi!")

    # /invite brings a second agent into Rocket.Chat's room
    assert "invited" in bob.dm_bot(f"/invite #{n} @erin")
    wait_until(lambda: "erin" in members(desk, vera.rid), 10, "erin in the room")

    # /search and /files read the conversation's record, which the livechat room feeds
    assert f"@{vera.username}: My *modem* is slow" in bob.dm_bot(f"/search modem in:#{n}")
    bob.rest.upload(vera.rid, b"speed test: 3 Mbit/s", "speedtest.txt", "text/plain")
    desk.idle()
    assert "speedtest.txt" in wait_until(
        lambda: (lambda t: t if "speedtest.txt" in t else None)(bob.dm_bot(f"/files #{n}")),
        10,
        "the file in /files",
    )

    # /history lists the visitor's earlier chats: none yet for a first visit
    history = bob.dm_bot("/history #" + str(n))
    assert f"@{vera.username} has no earlier conversations" in history


def test_a_transfer_made_in_rocket_chat_is_followed(desk: Chat) -> None:
    bob, erin, maria = desk.user("bob"), desk.user("erin"), desk.user("maria")
    available(bob, erin)
    vera = start(desk, "Need a hand")
    conv = conversation_of(desk, vera.rid)
    bob.dm_bot(f"/take {conv.number}")
    wait_until(lambda: "bob" in members(desk, vera.rid), 10, "bob in the room")
    # a manager moves the chat to erin in Rocket.Chat's own UI
    maria.rest.post("livechat/room.forward", roomId=vera.rid, userId=erin.id)
    wait_until(
        lambda: state_of(desk, conv.number).agent == "erin", 10, "Omnicat to follow the transfer"
    )
    n = conv.number
    wait_until(
        lambda: f"Forwarded to you in Rocket.Chat: @erin joined #{n}." in desk.console("erin", n),
        what="erin told in her console",
    )
    wait_until(
        lambda: f"#{n} was forwarded to @erin in Rocket.Chat." in desk.console("bob", n),
        what="bob told in his console",
    )
    # the bot kept its seat in the room (it rejoined), so the chat goes on as usual
    wait_until(lambda: "omnicat" in members(desk, vera.rid), 10, "the bot back in the room")
    assert "closed" in erin.dm_bot(f'/close #{conv.number} "sorted"')


def test_a_close_made_in_rocket_chat_is_followed_once(desk: Chat) -> None:
    bob = desk.user("bob")
    available(bob)
    vera = start(desk, "Thanks, that is all")
    conv = conversation_of(desk, vera.rid)
    bob.dm_bot(f"/take {conv.number}")
    wait_until(lambda: "bob" in members(desk, vera.rid), 10, "bob in the room")
    bob.rest.post("livechat/room.closeByUser", rid=vera.rid, comment="done in RC")
    wait_until(
        lambda: state_of(desk, conv.number).state is State.CLOSED, 10, "the close to be followed"
    )
    desk.idle()
    closed = state_of(desk, conv.number)
    assert closed.closer == "agent" and closed.comment == "Closed in Rocket.Chat"
    events = [e.kind for e in desk.bot.services.repo.events(conv.number)]
    assert events.count("closed") == 1


def test_the_log_says_why_rocket_chat_will_not_make_the_bot_available(
    make_chat: Any, caplog: pytest.LogCaptureFixture
) -> None:
    chat = make_chat(config=TOOLKIT, seed=livechat_seed(), start=False)
    chat.server.set_business_hours_closed(True)
    with caplog.at_level(logging.ERROR, logger="omnicat.workflow.livechat"):
        chat.start_bot()
        chat.idle()
        wait_until(
            lambda: any("business hours are closed" in r.getMessage() for r in caplog.records),
            10,
            "the log line",
        )
    line = next(r.getMessage() for r in caplog.records if "business hours" in r.getMessage())
    assert "refused to make the bot available" in line and "omnicat check-server" in line
