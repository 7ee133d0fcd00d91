"""The dispatcher behind the real transport, against the dev server over loopback sockets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import commands.help
from bot.cmd import CONVERSATION_NUMBER, Arg, Registry
from bot.dispatch.app import App
from bot.rocketchat.client import RocketChatClient
from bot.rocketchat.rest import RestClient
from bot.store import Store

devserver = pytest.importorskip("bot.devserver.server")

SEED = {
    "users": [
        {"username": "bot", "password": "bot-pw", "name": "Omnicat", "roles": ["bot"]},
        {
            "username": "alice",
            "password": "alice-pw",
            "name": "Alice",
            "roles": ["user", "livechat-agent"],
        },
    ]
}


def wait_for(cond: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def registry() -> Registry:
    reg = Registry()
    reg.add_module(commands.help)

    @reg.command(
        "take",
        args=[Arg("number", CONVERSATION_NUMBER)],
        permission="view-l-room",
        help="Take a conversation from the queue.",
    )
    def take(ctx):
        ctx.reply(f"took #{ctx.args.number}")

    return reg


class Bot:
    def __init__(self, url: str, store: Store) -> None:
        self.app = App(store=store, registry=registry())
        self.client = RocketChatClient(
            url, username="bot", password="bot-pw", listener=self.app, ping_interval=1.0
        )
        self.app.chat = self.client
        self.client.start()
        assert self.app.ready.wait(15)

    def stop(self) -> None:
        self.client.stop()
        self.app.stop(15)


@pytest.fixture
def server() -> Iterator[Any]:
    srv = devserver.DevServer(seed=SEED, port=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    st = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
    yield st
    st.close()


@pytest.fixture
def alice(server: Any) -> RestClient:
    client = RestClient(server.url, username="alice", password="alice-pw")
    client.login()
    return client


def bot_replies(alice: RestClient, rid: str) -> list[str]:
    return [m.text for m in alice.history(rid, "d") if m.author.username == "bot"]


def test_help_did_you_mean_and_bad_argument(server, store, alice):
    bot = Bot(server.url, store)
    try:
        rid = alice.dm_create("bot").id
        alice.post_message(rid, "/help")
        first = wait_for(lambda: bot_replies(alice, rid))
        assert first[0].startswith("Commands you can use here:")
        assert "/take — Take a conversation from the queue." in first[0]
        alice.post_message(rid, "/help take")
        alice.post_message(rid, "/tkae 3")
        alice.post_message(rid, "/take abc")
        replies = wait_for(lambda: (r := bot_replies(alice, rid)) and len(r) >= 4 and r)
        assert replies[1].startswith("/take <#N>\nTake a conversation from the queue.")
        assert replies[2] == "Unknown command /tkae. Did you mean /take?"
        assert replies[3] == (
            "'abc' is not a conversation number (expected #N, e.g. #12).\nUsage: /take <#N>"
        )
    finally:
        bot.stop()


def test_reconnect_answers_each_command_once_in_order(server, store, alice):
    bot = Bot(server.url, store)
    try:
        rid = alice.dm_create("bot").id
        alice.post_message(rid, "take 1")
        wait_for(lambda: bot_replies(alice, rid) == ["took #1"])
        server.drop_all_sockets()
        for n in (2, 3, 4):
            alice.post_message(rid, f"/take {n}")
        expected = [f"took #{n}" for n in (1, 2, 3, 4)]
        wait_for(lambda: bot_replies(alice, rid) == expected)
        time.sleep(0.5)  # settle: nothing more may arrive (not a timing assertion)
        assert bot_replies(alice, rid) == expected
    finally:
        bot.stop()


def test_restart_catches_up_and_answers_each_once(server, store, alice):
    rid = alice.dm_create("bot").id
    alice.post_message(rid, "/take 1")  # before the very first start: not ours to answer
    bot = Bot(server.url, store)
    alice.post_message(rid, "/take 2")
    wait_for(lambda: bot_replies(alice, rid) == ["took #2"])
    bot.stop()
    alice.post_message(rid, "/take 3")
    alice.post_message(rid, "/take 4")
    bot = Bot(server.url, store)
    try:
        expected = ["took #2", "took #3", "took #4"]
        wait_for(lambda: bot_replies(alice, rid) == expected)
        time.sleep(0.5)
        assert bot_replies(alice, rid) == expected
    finally:
        bot.stop()
