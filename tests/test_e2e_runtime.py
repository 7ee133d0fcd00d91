"""Issue 3 end to end: the dev server, the real bot (transport, dispatcher, store, ops) and users
talking to it over real sockets on loopback."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

import pytest
import yaml
from chat import ROOT, Chat, base_config, config_from_dict, wait_until

from bot.runtime.logsetup import setup_from_config

HELP_OVERVIEW_START = "Commands you can use here:"


# --- commands in the bot DM ------------------------------------------------------------------


def test_help_lists_the_commands_i_can_use(chat: Chat) -> None:
    reply = chat.user("alice").dm_bot("/help")
    assert reply.startswith(HELP_OVERVIEW_START)
    assert "/help — Show the commands you can use" in reply
    assert "\n/take — " in reply and "\n/queue — " in reply


def test_help_for_one_command_shows_usage_and_example(chat: Chat) -> None:
    reply = chat.user("alice").dm_bot("/help take")
    assert reply.splitlines()[0] == "/take [#N]"
    assert "Example: /take 12" in reply


def test_help_help(chat: Chat) -> None:
    reply = chat.user("alice").dm_bot("/help help")
    assert reply.splitlines()[0] == "/help [command]"


def test_unknown_command_gets_did_you_mean(chat: Chat) -> None:
    alice = chat.user("alice")
    assert alice.dm_bot("/tkae") == "Unknown command /tkae. Did you mean /take?"
    assert alice.dm_bot("/hlep") == "Unknown command /hlep. Did you mean /help?"


def test_bad_argument_gets_reason_and_usage(chat: Chat) -> None:
    alice = chat.user("alice")
    assert alice.dm_bot("/take abc") == (
        "'abc' is not a conversation number (expected #N, e.g. #12).\nUsage: /take [#N]"
    )
    assert (
        alice.dm_bot("/help a b") == "Too many arguments: unexpected 'b'.\nUsage: /help [command]"
    )


def test_bare_command_word_works_in_the_bot_dm(chat: Chat) -> None:
    assert chat.user("bob").dm_bot("help").startswith(HELP_OVERVIEW_START)


# --- reconnect, restart, rate limits ---------------------------------------------------------

THREE = ["/help", "/help help", "/hlep"]


def expected_replies(chat: Chat) -> list[str]:
    """What the bot answers to THREE, asked one by one in a calm moment (by bob, an agent like
    alice, so alice's command rate limit stays untouched)."""
    return [chat.user("bob").dm_bot(text) for text in THREE]


def test_reconnect_catches_up_and_answers_each_command_once_in_order(chat: Chat) -> None:
    alice = chat.user("alice")
    expected = expected_replies(chat)
    bot = chat.bot
    assert bot is not None and bot.client is not None
    # Hold the server's pushes so the first command is certainly missed live; the held events
    # are delivered after the reconnect too, so the bot sees it twice (catch-up + live).
    chat.server.pause_delivery()
    first = alice.say(alice.bot_dm, THREE[0])
    chat.server.drop_all_sockets()
    for text in THREE[1:]:
        alice.say(alice.bot_dm, text)
    wait_until(lambda: bot.client.reconnects >= 1, 15, "the bot to reconnect")
    chat.server.resume_delivery()

    chat.wait_bot_messages(alice.bot_dm, 3, after=first.id, timeout=15)
    chat.idle()
    assert alice.replies(alice.bot_dm, after_msg_id=first.id) == expected


def test_drop_while_posting_without_pausing(chat: Chat) -> None:
    alice = chat.user("alice")
    expected = expected_replies(chat)
    chat.server.drop_all_sockets()
    first = alice.say(alice.bot_dm, THREE[0])
    for text in THREE[1:]:
        alice.say(alice.bot_dm, text)
    chat.wait_bot_messages(alice.bot_dm, 3, after=first.id, timeout=15)
    chat.idle()
    assert alice.replies(alice.bot_dm, after_msg_id=first.id) == expected


def test_restart_catches_up_and_answers_each_once(chat: Chat) -> None:
    alice, zoe = chat.user("alice"), chat.user("zoe")
    expected = expected_replies(chat)
    chat.stop_bot()
    first = alice.say(alice.bot_dm, THREE[0])
    for text in THREE[1:]:
        alice.say(alice.bot_dm, text)
    # a DM opened while the bot was away is caught up too
    zoe_first = zoe.say(zoe.bot_dm, "/help help")

    chat.start_bot()
    chat.wait_bot_messages(alice.bot_dm, 3, after=first.id, timeout=15)
    chat.wait_bot_messages(zoe.bot_dm, 1, after=zoe_first.id, timeout=15)
    chat.idle()
    assert alice.replies(alice.bot_dm, after_msg_id=first.id) == expected
    assert zoe.replies(zoe.bot_dm, after_msg_id=zoe_first.id) == [expected[1]]

    # and a second restart replays nothing
    before = len(chat.bot_messages(alice.bot_dm))
    chat.restart_bot()
    chat.idle()
    assert alice.dm_bot("/hlep") == expected[2]
    assert len(chat.bot_messages(alice.bot_dm)) == before + 1


def test_rate_limited_replies_all_arrive(make_chat: Any) -> None:
    chat = make_chat(config={"commands": {"rate_limit": {"count": 0}}})
    alice = chat.user("alice")
    rid = alice.bot_dm
    # Limits for everyone, bots included: 2 sendMessage/s and 4 calls/s per REST endpoint.
    chat.server.set_rate_limits(
        True, rest_calls=4, rest_window_ms=1000, send_message_per_sec=2, exempt_bots=False
    )
    texts = [f"/help {'help' if i % 2 else ''}".strip() for i in range(8)]
    first = alice.say(rid, texts[0])
    for text in texts[1:]:
        alice.say(rid, text)
    got = chat.wait_bot_messages(rid, len(texts), after=first.id, timeout=30)
    chat.idle()
    assert len(chat.bot_messages(rid, after=first.id)) == len(texts)
    assert [g.startswith(HELP_OVERVIEW_START) for g in got] == [i % 2 == 0 for i in range(8)]
    refused = [
        c
        for c in chat.server.calls
        if c.user == chat.bot_username and c.status in (429, "too-many-requests")
    ]
    assert refused, "the limits never bit the bot: the test proves nothing"


def test_stop_finishes_in_flight_commands(make_chat: Any) -> None:
    from commands import load_commands

    started, release = threading.Event(), threading.Event()
    registry = load_commands()

    @registry.command("slowpoke", help="Answers after the test lets it.")
    def slowpoke(ctx: Any) -> None:
        started.set()
        release.wait(10)
        ctx.reply("done at last")

    chat = make_chat(registry=registry)
    alice = chat.user("alice")
    sent = alice.say(alice.bot_dm, "/slowpoke")
    assert started.wait(10)
    stopping = threading.Thread(target=chat.stop_bot)
    stopping.start()
    wait_until(lambda: not bot_is_healthy(chat), 10, "the bot to report stopping")
    release.set()
    stopping.join(20)
    assert not stopping.is_alive()
    assert alice.replies(alice.bot_dm, after_msg_id=sent.id) == ["done at last"]


def bot_is_healthy(chat: Chat) -> bool:
    bot = chat.bot
    return bot is not None and bot.health()[0]


def test_run_bot_waits_for_a_server_that_is_not_up_yet(tmp_path: Path) -> None:
    from chat import default_seed, free_port

    from bot.devserver import DevServer
    from bot.runtime.root import run_bot

    port = free_port()
    config = config_from_dict(base_config(f"http://127.0.0.1:{port}", tmp_path / "late.db"))
    stop, retrying = threading.Event(), threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "cannot reach the server" in record.getMessage():
                retrying.set()

    watch = Watch()
    logging.getLogger("omnicat.runtime").addHandler(watch)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(run_bot(config, stop_event=stop)))
    runner.start()
    server = None
    try:
        health = f"http://{config.http.listen}/healthz"
        assert retrying.wait(20), "the first attempt should fail: nothing listens yet"
        server = DevServer(default_seed(), port=port).start()

        def healthy() -> bool:
            try:
                return get(health)[0] == 200
            except OSError:
                return False

        wait_until(healthy, 20, "the bot to come up once the server did")
    finally:
        stop.set()
        runner.join(30)
        logging.getLogger("omnicat.runtime").removeHandler(watch)
        if server is not None:
            server.stop()
    assert result == [0]
    # run from a thread, the bot does not own the process: the test's heap stays collectable
    assert gc.get_freeze_count() == 0


def test_freezing_the_long_lived_heap_spares_what_comes_after() -> None:
    from bot.runtime.heap import freeze_long_lived

    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the cyclic collector frees it

    before = Node()
    try:
        frozen = freeze_long_lived()
        assert frozen == gc.get_freeze_count() > 0
        assert not any(o is before for o in gc.get_objects())  # out of the collector's reach
        after = weakref.ref(Node())
        gc.collect()
        assert after() is None  # made after the freeze: collected as ever
    finally:
        gc.unfreeze()


# --- secrets, health, metrics ----------------------------------------------------------------


@pytest.fixture
def debug_log(tmp_path: Path) -> Any:
    """Route the root logger at DEBUG, redacted as `omnicat run` does, into a file."""
    root = logging.getLogger()
    level = root.level
    path = tmp_path / "bot.log"
    stream = path.open("w", encoding="utf-8")

    def setup(config: Any) -> Path:
        setup_from_config(config, stream)
        return path

    yield setup
    for handler in list(root.handlers):
        if handler.get_name() == "omnicat":
            root.removeHandler(handler)
    root.setLevel(level)
    stream.close()


@pytest.mark.parametrize(("login", "fmt"), [("password", "text"), ("token", "json")])
def test_debug_log_holds_no_password_or_token(
    make_chat: Any, debug_log: Any, login: str, fmt: str
) -> None:
    chat = make_chat(config={"log": {"level": "DEBUG", "format": fmt}}, start=False)
    secrets = ["omnicat-dev"]
    if login == "token":
        user_id, token = chat.server.create_personal_access_token("omnicat")
        server = {"username": None, "password": None, "user_id": user_id, "token": token}
        chat.config_data["server"].update(server)
        secrets.append(token)
        chat.config = config_from_dict(chat.config_data)
    log_path = debug_log(chat.config)
    bot = chat.start_bot()
    assert bot.client is not None
    secrets.append(str(bot.client.rest.token))
    alice = chat.user("alice")
    assert alice.dm_bot("/help").startswith(HELP_OVERVIEW_START)
    chat.server.drop_all_sockets()  # the reconnect logs in again
    wait_until(lambda: bot.client is not None and bot.client.reconnects >= 1, 15, "reconnect")
    assert alice.dm_bot("/hlep").startswith("Unknown command")
    chat.stop_bot()
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_path.read_text(encoding="utf-8")
    assert "DEBUG" in text and "login" in text.lower()  # the log did record the logins
    if fmt == "json":
        assert all(json.loads(line)["level"] for line in text.splitlines())
    for secret in secrets:
        if login == "token" and secret == "omnicat-dev":
            continue
        assert secret not in text


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_healthz_and_metrics(chat: Chat) -> None:
    bot = chat.bot
    assert bot is not None and bot.ops_address is not None
    host, port = bot.ops_address
    base = f"http://{host}:{port}"
    status, body = get(base + "/healthz")
    assert status == 200 and json.loads(body)["ok"] is True
    assert json.loads(body)["role"] == "active"  # no high availability: the only instance

    chat.user("alice").dm_bot("/help")
    status, text = get(base + "/metrics")
    assert status == 200
    assert 'omnicat_commands_total{command="help",outcome="ok"} 1.0' in text
    assert "omnicat_events_received_total" in text

    # the server goes away: every socket drops and reconnecting fails
    chat.server.stop()
    status, body = wait_until(
        lambda: (lambda r: r if r[0] == 503 else None)(get(base + "/healthz"))
    )
    assert json.loads(body) == {
        "ok": False,
        "reason": "not connected to the server",
        "role": "active",
        "ha": False,
    }

    chat.stop_bot()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base + "/healthz", timeout=5)


def test_health_is_503_while_catching_up_or_stopping(chat: Chat) -> None:
    bot = chat.bot
    assert bot is not None and bot.app is not None
    bot.app.ready.clear()
    assert bot.health() == (False, "catching up")
    bot.app.ready.set()
    assert bot.health()[0] is True


# --- the CLI ---------------------------------------------------------------------------------


def omnicat(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.runtime.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def test_check_config_of_the_example() -> None:
    done = omnicat("check-config", "-c", "config/omnicat.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("config/omnicat.yaml: OK")


class OmnicatRun:
    """`omnicat run -c FILE` as a subprocess, waited on until `/healthz` says 200."""

    def __init__(self, config: dict[str, Any], config_path: Path) -> None:
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.health = f"http://{config['http']['listen']}/healthz"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.runtime.cli", "run", "-c", str(config_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        wait_until(self.healthy, 30, "omnicat run to be healthy")

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"omnicat run exited: {self.proc.communicate()[1]}")
        try:
            return get(self.health)[0] == 200
        except OSError:
            return False

    def finish(self, sig: int = signal.SIGTERM) -> str:
        """Send `sig`, wait for the exit; the process's stderr."""
        self.proc.send_signal(sig)
        return self.proc.communicate(timeout=30)[1]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def test_omnicat_run_answers_then_stops_cleanly_on_sigterm(make_chat: Any, tmp_path: Path) -> None:
    chat = make_chat(start=False)
    run = OmnicatRun(base_config(chat.server.url, tmp_path / "run.db"), tmp_path / "omnicat.yaml")
    try:
        assert chat.user("alice").dm_bot("/help").startswith(HELP_OVERVIEW_START)
        err = run.finish(signal.SIGTERM)
    finally:
        run.kill()
    assert run.proc.returncode == 0, err
    assert "shutting down" in err and "stopped" in err
    assert "omnicat-dev" not in err


def test_omnicat_run_killed_then_restarted_answers_what_it_missed_once(
    make_chat: Any, tmp_path: Path
) -> None:
    chat = make_chat(start=False)
    config = base_config(chat.server.url, tmp_path / "crash.db")
    alice = chat.user("alice")
    expected = expected_replies_from(chat, config, tmp_path)

    run = OmnicatRun(config, tmp_path / "omnicat.yaml")
    try:
        assert alice.dm_bot("/help") == expected[0]
        run.finish(signal.SIGKILL)  # no clean stop: nothing flushed, nothing said goodbye
        first = alice.say(alice.bot_dm, THREE[0])
        for text in THREE[1:]:
            alice.say(alice.bot_dm, text)
        run = OmnicatRun(config, tmp_path / "omnicat.yaml")
        chat.wait_bot_messages(alice.bot_dm, 3, after=first.id, timeout=20)
        run.finish(signal.SIGTERM)  # a clean stop drains the queues: nothing more can come
        assert run.proc.returncode == 0
    finally:
        run.kill()
    assert alice.replies(alice.bot_dm, after_msg_id=first.id) == expected


def expected_replies_from(chat: Chat, config: dict[str, Any], tmp_path: Path) -> list[str]:
    """THREE's answers, asked by bob of an in-process bot on a scratch store."""
    chat.config = config_from_dict(
        {**config, "store": {"url": f"sqlite:///{tmp_path / 'scratch.db'}"}, "http": {}}
    )
    chat.start_bot()
    try:
        return expected_replies(chat)
    finally:
        chat.stop_bot()


def test_harness_conversation_helpers(make_chat: Any) -> None:
    chat = make_chat(
        config={
            "departments": {"support": {"agents": ["bob"]}},
            "intake": {"dm": {"department": "support"}},
        }
    )
    bob, carol = chat.user("bob"), chat.user("carol")
    assert bob.dm_bot("/status available") == "You are now available for chats."
    assert "Your conversation #1" in carol.dm_bot("my printer is on fire")
    assert bob.dm_bot("/take 1").startswith("You took #1 from @carol")
    room = bob.in_conversation(1)
    assert room.rid == carol.in_conversation(1).rid
    room.say("Hello Carol")
    assert room.exchange("/hold", 2)[0] == "Placed on hold by @bob."
