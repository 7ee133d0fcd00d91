"""The real transport against the dev server over real sockets on loopback."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from test_transport_client import Recorder

from bot.chat.errors import AuthenticationFailed, RocketChatError
from bot.chat.types import Attachment
from bot.rocketchat.client import RocketChatClient
from bot.rocketchat.ddp import password_digest
from bot.rocketchat.rest import RestClient

devserver = pytest.importorskip("bot.devserver.server")

SEED = {
    "users": [
        {
            "username": "bot",
            "password": "bot-pw",
            "name": "Omnicat",
            "email": "bot@example.org",
            "roles": ["bot"],
        },
        {
            "username": "alice",
            "password": "alice-pw",
            "name": "Alice",
            "email": "alice@example.org",
            "roles": ["user"],
        },
    ]
}


def wait_for(cond: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture
def server() -> Iterator[Any]:
    srv = devserver.DevServer(seed=SEED, port=0).start()
    yield srv
    srv.stop()


@pytest.fixture
def alice(server: Any) -> RestClient:
    client = RestClient(server.url, username="alice", password="alice-pw")
    client.login()
    return client


@pytest.fixture
def bot(server: Any) -> Iterator[tuple[RocketChatClient, Recorder]]:
    recorder = Recorder()
    client = RocketChatClient(
        server.url,
        username="bot",
        password="bot-pw",
        listener=recorder,
        ping_interval=1.0,
        call_timeout=10.0,
    )
    client.start()
    yield client, recorder
    client.stop()


def test_login_by_password(bot: tuple[RocketChatClient, Recorder]) -> None:
    client, recorder = bot
    assert client.connected
    assert client.bot_user.username == "bot"
    assert client.bot_user.id
    assert recorder.connected == [True]


def test_login_by_personal_access_token(server: Any) -> None:
    made = server.create_personal_access_token("bot")
    if isinstance(made, dict):
        user_id, token = made.get("userId") or made.get("user_id"), made["token"]
    elif isinstance(made, tuple):
        user_id, token = made
    else:
        token = made
        probe = RestClient(server.url, username="bot", password="bot-pw")
        user_id = probe.login().id
    recorder = Recorder()
    client = RocketChatClient(
        server.url, user_id=user_id, token=token, listener=recorder, ping_interval=1.0
    )
    client.start()
    try:
        assert client.connected
        assert client.bot_user.username == "bot"
        assert recorder.connected == [True]
    finally:
        client.stop()
    assert not client.connected


def test_bad_credentials_raise(server: Any) -> None:
    client = RocketChatClient(server.url, username="bot", password="wrong", listener=Recorder())
    with pytest.raises(AuthenticationFailed):
        client.start()
    client = RocketChatClient(server.url, user_id="nobody", token="bogus", listener=Recorder())
    with pytest.raises(AuthenticationFailed):
        client.start()


def test_receives_message_with_room_metadata(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient
) -> None:
    _client, recorder = bot
    rid = alice.dm_create("bot").id
    sent = alice.post_message(rid, "hello bot & co #1 +x")
    message = wait_for(lambda: next((m for m in recorder.messages if m.id == sent.id), None))
    assert message.text == "hello bot & co #1 +x"
    assert message.author.username == "alice"
    assert message.rid == rid
    assert message.room_type == "d"


def test_send_over_ddp_and_over_rest(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient
) -> None:
    client, recorder = bot
    rid = client.dm_room("alice")
    assert client.dm_room("alice") == rid  # cached
    first = client.send(rid, "over ddp")
    # The bot's own messages come back on the stream too.
    wait_for(lambda: "over ddp" in recorder.texts())
    # Pretend the socket is down: the same call must take the REST path.
    with client.socket_down():
        second = client.send(rid, "over rest")
    assert second is not None and second.text == "over rest"
    assert len(second.id) == 17
    texts = [m.text for m in alice.history(rid, "d")]
    assert texts[-2:] == ["over ddp", "over rest"]
    if first is not None:
        assert first.text == "over ddp"


def test_post_with_attachment(bot: tuple[RocketChatClient, Recorder], alice: RestClient) -> None:
    client, _ = bot
    rid = client.dm_room("alice")
    message = client.post(rid, "rich", attachments=[Attachment(title="Queue", text="2 waiting")])
    assert message.text == "rich"
    assert message.attachments and message.attachments[0].title == "Queue"


def test_reconnects_after_drop(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient, server: Any
) -> None:
    client, recorder = bot
    rid = alice.dm_create("bot").id
    server.drop_all_sockets()
    wait_for(lambda: recorder.disconnected)
    wait_for(lambda: recorder.connected == [True, False])
    assert client.connected
    sent = alice.post_message(rid, "after the drop")
    wait_for(lambda: any(m.id == sent.id for m in recorder.messages))
    client.send(rid, "still here")
    wait_for(lambda: "still here" in recorder.texts())


def test_history_oldest_first_across_pages(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient
) -> None:
    client, _ = bot
    rid = alice.dm_create("bot").id
    posted = [alice.post_message(rid, f"line {i}") for i in range(7)]
    messages = client.history(rid, count=3)
    assert [m.text for m in messages if m.text.startswith("line")] == [
        f"line {i}" for i in range(7)
    ]
    since = client.history(rid, oldest=posted[4].ts, count=2)
    assert [m.text for m in since] == ["line 4", "line 5", "line 6"]
    later = client.history(rid, oldest=posted[-1].ts + timedelta(seconds=1))
    assert later == []


def test_upload_and_download_bytes_equal(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient
) -> None:
    client, _ = bot
    rid = client.dm_room("alice")
    payload = bytes(range(256)) * 40
    message = client.upload(rid, payload, "blob.bin", "application/octet-stream", message="a file")
    urls = [f.url for f in message.files if f.url] + [
        a.title_link for a in message.attachments if a.title_link
    ]
    assert urls, message
    assert client.download(urls[0]) == payload
    assert any(f.name == "blob.bin" for f in client.files(rid))


def test_an_upload_into_a_thread_is_a_reply_there(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient
) -> None:
    """`rooms.mediaConfirm` takes `tmid` (rest-typings): the file message is a thread reply, and
    a thread that is not in the room is refused (the transcript PDF goes into a console thread)."""
    client, _ = bot
    rid = client.dm_room("alice")
    root = client.send(rid, "#7 · the thread's root")
    assert root is not None
    message = client.upload(rid, b"%PDF-1.4\n", "t.pdf", "application/pdf", tmid=root.id)
    assert message.tmid == root.id
    assert [m.id for m in client.history(rid) if m.tmid == root.id] == [message.id]
    with pytest.raises(RocketChatError):
        client.upload(rid, b"x", "t.txt", "text/plain", tmid="no-such-root")


def test_users_presence_and_rooms(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient
) -> None:
    client, _ = bot
    user = client.user(username="alice")
    assert user is not None and user.name == "Alice"
    assert client.user(user_id=user.id) == user
    assert client.user(username="nobody-here") is None
    assert client.presence(user.id) in {"online", "away", "busy", "offline"}
    rid = client.dm_room("alice")
    room = client.room_info(rid)
    assert room is not None and room.type == "d"


def test_send_paths_seen_by_server(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient, server: Any
) -> None:
    client, _ = bot
    rid = client.dm_room("alice")
    server.clear_calls()
    client.send(rid, "fast path")
    with client.socket_down():
        client.send(rid, "slow path")
    sends = [(c.kind, c.name) for c in server.calls if "end" in c.name and "essage" in c.name]
    assert sends == [("ddp", "sendMessage"), ("rest", "chat.sendMessage")]


def test_rate_limited_replies_still_all_arrive(
    bot: tuple[RocketChatClient, Recorder], alice: RestClient, server: Any
) -> None:
    client, _ = bot
    rid = client.dm_room("alice")
    server.set_rate_limits(
        True, rest_calls=2, rest_window_ms=600, send_message_per_sec=2, exempt_bots=False
    )
    server.clear_calls()
    for i in range(5):
        client.send(rid, f"ddp {i}")
    for i in range(4):
        client.post(rid, f"rest {i}")
    server.set_rate_limits(False)
    texts = [m.text for m in alice.history(rid, "d")]
    assert texts[-9:] == [f"ddp {i}" for i in range(5)] + [f"rest {i}" for i in range(4)]
    statuses = [c.status for c in server.calls]
    assert 429 in statuses and "too-many-requests" in statuses


def test_debug_logs_hold_no_secrets(server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user_id, token = server.create_personal_access_token("bot")
    for kwargs in ({"username": "bot", "password": "bot-pw"}, {"user_id": user_id, "token": token}):
        recorder = Recorder()
        client = RocketChatClient(server.url, listener=recorder, ping_interval=0.2, **kwargs)
        client.start()
        rid = client.dm_room("alice")
        client.send(rid, "hello")
        server.drop_all_sockets()
        wait_for(lambda rec=recorder: rec.connected == [True, False])
        client.stop()
    bad = RocketChatClient(server.url, username="bot", password="wrong-secret", listener=Recorder())
    with pytest.raises(AuthenticationFailed):
        bad.start()
    text = caplog.text
    assert "connection lost" in text or "restored" in text  # the log did capture the run
    for secret in ("bot-pw", token, "wrong-secret", password_digest("bot-pw")):
        assert secret not in text


def test_from_settings_and_pat_reconnect(server: Any) -> None:
    user_id, token = server.create_personal_access_token("bot")
    settings = SimpleNamespace(
        url=server.url, username="", password="", user_id=user_id, token=token
    )
    recorder = Recorder()
    client = RocketChatClient.from_settings(settings, recorder, ping_interval=0.5)
    client.start()
    try:
        server.drop_all_sockets()
        wait_for(lambda: recorder.connected == [True, False])
        assert client.connected
    finally:
        client.stop()
