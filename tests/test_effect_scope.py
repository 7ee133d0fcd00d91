"""Effect scopes (issue 20): replies carry ids derived from their event, so a replay stores
nothing new. Unit checks of the derivation, then the real transport against the dev server,
which refuses a duplicate `_id` as Rocket.Chat does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from test_transport_client import Recorder
from test_transport_e2e import SEED

from bot.chat import effect_scope
from bot.chat.effect_scope import ID_ALPHABET, carry, next_message_id
from bot.chat.effect_scope import effect_scope as scope_of
from bot.chat.types import Attachment
from bot.rocketchat.client import RocketChatClient
from bot.rocketchat.rest import RestClient

devserver = pytest.importorskip("bot.devserver.server")


def test_ids_are_meteor_ids_and_stable_per_event_room_and_place() -> None:
    def run(rooms: list[str]) -> list[str]:
        with scope_of(effect_scope.message_key("M1", "0")):
            return [next_message_id(rid) or "" for rid in rooms]

    first = run(["A", "A", "B"])
    assert all(len(i) == 17 and set(i) <= set(ID_ALPHABET) for i in first)
    assert len(set(first)) == 3
    assert run(["A", "A", "B"]) == first
    # another order of rooms: each room's messages keep their ids
    assert sorted(run(["B", "A", "A"])) == sorted(first)
    with scope_of(effect_scope.message_key("M1", "e1.000")):  # an edit is a new event
        assert next_message_id("A") not in first
    assert next_message_id("A") is None  # outside any scope: the transport draws one


def test_an_answer_keeps_its_id_when_a_replay_skips_the_notes_before_it() -> None:
    """A command posts a note in its console thread, then answers, both in the agent's DM. Its
    replay after a crash (the transition refused now) only answers: the answer must take the
    first answer's id (stored once), never the note's (which would count as delivered)."""

    def first_run() -> tuple[str | None, str | None, str | None]:
        with scope_of(effect_scope.message_key("CMD", "0")):
            root = next_message_id("DM")
            note = next_message_id("DM", "ROOT")
            with effect_scope.role("reply"):
                answer = next_message_id("DM")
            return root, note, answer

    def replay() -> str | None:
        with scope_of(effect_scope.message_key("CMD", "0")), effect_scope.role("reply"):
            return next_message_id("DM")

    root, note, answer = first_run()
    assert len({root, note, answer}) == 3
    assert replay() == answer
    # a plain message to the room keeps the id it always had (no thread, no role)
    with scope_of(effect_scope.message_key("CMD", "0")):
        assert next_message_id("DM") == root


def test_carried_work_gets_a_stable_child_scope_in_its_thread() -> None:
    def ids() -> list[str | None]:
        got: list[str | None] = []
        with scope_of("timer:7:2026-01-01T00:00:00"):
            jobs = [carry(lambda: got.append(next_message_id("R"))) for _ in range(2)]
        threads = [threading.Thread(target=job) for job in jobs]
        for t in threads:
            t.start()
            t.join()
        return got

    first = ids()
    assert None not in first and len(set(first)) == 2
    assert ids() == first


@pytest.fixture
def server() -> Iterator[Any]:
    srv = devserver.DevServer(seed=SEED, port=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def bot(server: Any) -> Iterator[RocketChatClient]:
    client = RocketChatClient(
        server.url, username="bot", password="bot-pw", listener=Recorder(), call_timeout=10.0
    )
    client.start()
    yield client
    client.stop()


def _replies(alice: RestClient, rid: str) -> list[str]:
    return [m.text for m in alice.history(rid, "d") if m.author.username == "bot"]


def test_a_replayed_event_stores_each_reply_once(server: Any, bot: RocketChatClient) -> None:
    alice = RestClient(server.url, username="alice", password="alice-pw")
    alice.login()
    rid = bot.dm_room("alice")

    def handle() -> list[Any]:
        with scope_of(effect_scope.message_key("CMD1", "0")):
            return [
                bot.send(rid, "first answer"),
                bot.post(rid, "a card", attachments=[Attachment(title="t", text="x")]),
                bot.dm("alice", "a direct word"),
            ]

    sent = handle()
    again = handle()  # the replay: no error, every effect counts as delivered
    assert [m.id for m in sent if m] == [m.id for m in again if m]
    assert sorted(_replies(alice, rid)) == ["a card", "a direct word", "first answer"]


def test_a_replay_over_rest_counts_the_duplicate_as_delivered(
    server: Any, bot: RocketChatClient
) -> None:
    alice = RestClient(server.url, username="alice", password="alice-pw")
    alice.login()
    rid = bot.dm_room("alice")
    with scope_of("timer:1:due"):
        first = bot.send(rid, "reminder")
    bot._connected = False  # the socket is down: the same send goes through REST
    try:
        with scope_of("timer:1:due"):
            second = bot.send(rid, "reminder")
    finally:
        bot._connected = True
    assert first is not None and second is not None and second.id == first.id
    assert _replies(alice, rid) == ["reminder"]
