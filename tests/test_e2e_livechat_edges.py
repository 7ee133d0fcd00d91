"""Livechat seats at the edges (issue 17): a manager's `/requeue` while the agent is offline,
then `/forward`: nobody is told about a transfer they did not ask for, and the agent who lost
the chat does not stay in the visitor's room."""

from __future__ import annotations

from typing import Any

import pytest
from chat import Chat, wait_until
from test_e2e_livechat import (
    CONFIG,
    available,
    conversation_of,
    dm_texts,
    livechat_seed,
    members,
    ready_desk,
    start,
)


@pytest.fixture
def desk(make_chat: Any) -> Chat:
    return ready_desk(make_chat(config=CONFIG, seed=livechat_seed()))


def test_requeue_of_an_offline_agent_then_forward(desk: Chat) -> None:
    bob, erin, maria = desk.user("bob"), desk.user("erin"), desk.user("maria")
    available(bob, erin)
    vera = start(desk, "my router")
    conv = conversation_of(desk, vera.rid)
    n = conv.number
    assert f"#{n}" in bob.dm_bot(f"/take {n}")
    wait_until(lambda: "bob" in members(desk, vera.rid), what="bob in the room")
    desk.server.set_presence("bob", "offline")
    answer = maria.dm_bot(f"/requeue #{n} bob went home")
    assert answer.startswith(f"#{n} is back in the queue"), answer
    desk.idle()
    told = dm_texts(desk, maria)
    assert not any("refused to transfer" in t for t in told), told
    # out through the room's own department, which gives the room back to the bot
    wait_until(lambda: "bob" not in members(desk, vera.rid), what="bob out after the requeue")
    assert "omnicat" in members(desk, vera.rid)
    assert desk.server.room(vera.rid)["servedBy"]["username"] == "omnicat"
    answer = maria.dm_bot(f"/forward #{n} @erin")
    assert "erin" in answer, answer
    desk.idle()
    wait_until(lambda: "bob" not in members(desk, vera.rid), what="bob out of the room")
    assert "erin" in members(desk, vera.rid)
    assert not any("refused to transfer" in t for t in dm_texts(desk, maria))
