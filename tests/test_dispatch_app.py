from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from fakes import BASE_TIME, FakeChat, FakeStore

from bot.chat.types import Message
from bot.cmd import CONVERSATION_NUMBER, Arg, Registry, Text
from bot.dispatch.app import App, revision_of
from bot.dispatch.handlers import ConversationMessage, Intake, Routes

TIMEOUT = 10
NOW = BASE_TIME + timedelta(hours=1)


def wait_for(predicate, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def config(count: int = 100, per: float = 10):
    return SimpleNamespace(
        commands=SimpleNamespace(
            prefixes=("/",), rate_limit=SimpleNamespace(count=count, per=timedelta(seconds=per))
        ),
        departments={},
    )


class Bot:
    """An App on a FakeChat and FakeStore with a tiny command set."""

    def __init__(self, store=None, *, count: int = 100, monotonic=time.monotonic, metrics=None):
        self.chat = FakeChat()
        self.store = store if store is not None else FakeStore()
        self.gates: dict[str, threading.Event] = {}
        reg = Registry()

        @reg.command("echo", args=[Arg("text", Text(), required=False)])
        def echo(ctx):
            gate = self.gates.get(ctx.args.text or "")
            if gate is not None:
                assert gate.wait(TIMEOUT)
            ctx.reply(f"echo {ctx.args.text}")

        @reg.command("take", args=[Arg("number", CONVERSATION_NUMBER)], permission="view-l-room")
        def take(ctx):
            ctx.reply(f"took {ctx.args.number}")

        @reg.command("ping")
        def ping(ctx):
            ctx.reply("pong")

        @reg.command("boom")
        def boom(ctx):
            raise RuntimeError("kaput")

        self.app = App(
            store=self.store,
            config=config(count),
            registry=reg,
            chat=self.chat,
            clock=lambda: NOW,
            monotonic=monotonic,
            metrics=metrics,
            routes=Routes(
                groups=[
                    [
                        ConversationMessage(
                            lambda m, kind: self.conversation.append(
                                (m.text, m.type or "", m.is_edit)
                            )
                        )
                    ],
                    [Intake(lambda m, kind: self.intake.append((m.text, kind)))],
                ],
                is_conversation_room=lambda rid: rid.startswith("conv"),
            ),
        )
        self.intake: list[tuple[str, str]] = []
        self.conversation: list[tuple[str, str, bool]] = []

    def connect(self, first: bool = True) -> None:
        self.app.on_connected(first)
        assert self.app.ready.wait(TIMEOUT)
        assert self.app.wait_idle(TIMEOUT)

    def send(self, msg: Message) -> None:
        self.app.on_message(msg)

    def settle(self) -> None:
        assert self.app.wait_idle(TIMEOUT)

    def dm(self, username: str, text: str) -> Message:
        msg = self.chat.say(username, self.chat.dm_room(username), text)
        self.send(msg)
        return msg

    def replies(self, username: str) -> list[str]:
        self.settle()
        return self.chat.sent(self.chat.dm_room(username))


@pytest.fixture
def bot():
    b = Bot()
    b.chat.add_user("alice", "livechat-agent")
    b.connect()
    yield b
    b.app.stop(TIMEOUT)


def test_commands_in_the_dm_with_prefix_or_bare_word(bot):
    bot.dm("alice", "/echo hi")
    bot.dm("alice", "echo there")
    assert bot.replies("alice") == ["echo hi", "echo there"]


def test_own_messages_are_ignored(bot):
    rid = bot.chat.dm_room("alice")
    own = bot.chat.say("omnicat", rid, "/echo me")
    bot.send(own)
    bot.settle()
    assert bot.chat.sent(rid) == []
    assert bot.app.process(own) == "own"


def test_system_messages_not_used_are_ignored(bot):
    msg = bot.chat.say("alice", "conv1", "", type="room_changed_topic")
    assert bot.app.process(msg) == "system"
    leave = bot.chat.say("alice", "conv1", "", type="ul")
    assert bot.app.process(leave) == "conversation"
    assert bot.conversation == [("", "ul", False)]


def test_duplicates_and_reaction_reemissions_run_once(bot):
    msg = bot.dm("alice", "/echo once")
    bot.send(msg)
    # a reaction re-emits the message with a new _updatedAt but the same content
    reacted = Message(**{**_fields(msg), "updated_at": msg.ts + timedelta(minutes=1)})
    assert revision_of(reacted) == revision_of(msg)
    bot.send(reacted)
    assert bot.replies("alice") == ["echo once"]


def _fields(msg: Message) -> dict:
    return {name: getattr(msg, name) for name in Message.__dataclass_fields__}


def test_edits_of_commands_do_not_run_again(bot):
    msg = bot.dm("alice", "/echo first")
    bot.settle()
    bot.send(bot.chat.edit(msg, "/echo second"))
    assert bot.replies("alice") == ["echo first"]


def test_routing_intake_conversation_and_other(bot):
    bot.dm("alice", "hello, I need help")
    bot.send(bot.chat.say("carol", "conv7", "my printer is on fire"))
    bot.send(bot.chat.say("carol", "chan1", "anyone?", room_type="c"))
    bot.send(bot.chat.say("carol", "chan1", "echo not-a-command-outside-dm", room_type="c"))
    bot.settle()
    # rooms run concurrently: compare each room's own order
    assert sorted(bot.intake) == [
        ("anyone?", "other"),
        ("echo not-a-command-outside-dm", "other"),
        ("hello, I need help", "dm"),
    ]
    assert bot.conversation == [("my printer is on fire", "", False)]


def test_edits_and_deletions_in_conversation_rooms_go_to_the_conversation_hook(bot):
    msg = bot.chat.say("carol", "conv1", "helo")
    bot.send(msg)
    bot.settle()
    bot.send(bot.chat.edit(msg, "hello"))
    deleted = Message(id=msg.id, rid="conv1", text="", ts=msg.ts, author=msg.author, type="rm")
    bot.send(deleted)
    bot.settle()
    assert bot.conversation == [("helo", "", False), ("hello", "", True), ("", "rm", False)]


def test_first_sight_of_an_edited_plain_message_is_a_new_message(bot):
    msg = bot.chat.say("bob", bot.chat.dm_room("bob"), "hi")
    bot.send(bot.chat.edit(msg, "hi, I need help"))
    bot.settle()
    assert bot.intake == [("hi, I need help", "dm")]


def test_crash_is_answered_with_a_ref_and_the_room_goes_on(bot, caplog):
    with caplog.at_level(logging.ERROR):
        bot.dm("alice", "/boom")
        bot.dm("alice", "/echo still here")
        replies = bot.replies("alice")
    assert replies[0].startswith("Something went wrong (ref ")
    assert replies[1] == "echo still here"
    assert "kaput" in caplog.text


def test_unknown_command_did_you_mean(bot):
    bot.dm("alice", "/ehco x")
    assert bot.replies("alice") == ["Unknown command /ehco. Did you mean /echo?"]


def test_rate_limit_names_every_refused_command_and_when_to_send_it_again():
    now = [0.0]
    b = Bot(count=2, monotonic=lambda: now[0])  # the older spelling: 2 at once, 2 per 10 s
    b.connect()
    for n in range(5):
        b.dm("alice", f"/echo {n}")
    b.dm("alice", "just chatting, not a command")
    replies = b.replies("alice")
    assert replies[:2] == ["echo 0", "echo 1"]
    assert replies[2:] == [
        "Too many commands at once (the limit is 2 at once, then one every 5 s): "
        f"I did not run `/echo {n}`. Send it again in 5 s."
        for n in (2, 3, 4)
    ]
    assert b.intake == [("just chatting, not a command", "dm")]
    now[0] += 5  # one command's worth
    b.dm("alice", "/echo again")
    assert b.replies("alice")[-1] == "echo again"
    b.app.stop(TIMEOUT)


def test_a_flood_gets_a_few_notices_then_one_summary_naming_the_rest():
    now = [0.0]
    b = Bot(count=2, monotonic=lambda: now[0])
    b.connect()
    for n in range(40):
        b.dm("alice", f"/echo {n}")
    replies = b.replies("alice")
    assert replies[:2] == ["echo 0", "echo 1"]
    assert [r.split("`")[1] for r in replies[2:]] == ["/echo 2", "/echo 3", "/echo 4"]
    b.app.stop(TIMEOUT)  # a clean stop sends the summary that was waiting for its timer
    summary = b.chat.sent(b.chat.dm_room("alice"))[-1]
    assert summary.startswith("Still too many commands at once")
    assert "I did not run these 35 commands either: " in summary
    assert all(f"`/echo {n}`" in summary for n in range(5, 35))  # 30 named, the rest counted
    assert summary.endswith(
        "and 5 other commands. Send again what you still need, at most one every 5 s."
    )


def test_per_room_order_while_other_rooms_interleave(bot):
    bot.gates["block"] = gate = threading.Event()
    bot.dm("alice", "/echo block")
    for n in range(5):
        bot.dm("alice", f"/echo a{n}")
    for n in range(5):
        bot.dm("bob", f"/echo b{n}")
    # bob's room is served while alice's room waits on its first command
    wait_for(lambda: len(bot.chat.sent(bot.chat.dm_room("bob"))) == 5)
    assert bot.chat.sent(bot.chat.dm_room("alice")) == []
    gate.set()
    assert bot.replies("alice") == ["echo block"] + [f"echo a{n}" for n in range(5)]
    assert bot.replies("bob") == [f"echo b{n}" for n in range(5)]


def test_fresh_start_does_not_answer_old_history():
    b = Bot()
    old = b.chat.say("alice", b.chat.dm_room("alice"), "/echo from last week")
    b.connect(first=True)
    assert b.replies("alice") == []
    assert b.store.cursor(old.rid).last_ts == NOW  # "now" is where we began
    assert [e.kind for e in b.chat.effects] == []  # no history fetched at all
    b.send(b.chat.say("alice", old.rid, "/echo new", ts=NOW + timedelta(seconds=1)))
    assert b.replies("alice") == ["echo new"]
    b.app.stop(TIMEOUT)


def test_catch_up_replays_missed_messages_in_order_once():
    store = FakeStore()
    b = Bot(store)
    rid = b.chat.dm_room("alice")
    seen = b.chat.say("alice", rid, "/echo seen")
    store.mark_processed(seen.id, revision_of(seen), rid)
    store.advance_cursor(rid, seen.ts, seen.id)
    missed = [b.chat.say("alice", rid, f"/echo missed {n}") for n in range(3)]
    # a live message arrives before catch-up is planned: it must wait its turn
    live = b.chat.say("alice", rid, "/echo live")
    b.send(live)
    b.send(missed[1])  # and a re-delivery of a missed one
    b.connect(first=False)
    assert b.replies("alice") == ["echo missed 0", "echo missed 1", "echo missed 2", "echo live"]
    assert store.cursor(rid).last_msg_id == live.id
    history_calls = [e for e in b.chat.effects if e.kind == "history"]
    assert [(e.rid, e.data["oldest"]) for e in history_calls] == [(rid, seen.ts)]
    b.app.stop(TIMEOUT)


def test_restart_catches_up_rooms_without_cursor_since_we_went_away():
    store = FakeStore()
    first = Bot(store)
    first.connect(first=True)
    first.dm("alice", "/echo before")
    assert first.replies("alice") == ["echo before"]
    first.app.stop(TIMEOUT)

    second = Bot(store)
    second.chat = first.chat
    second.app.chat = first.chat
    for n in range(2):
        first.chat.say("alice", first.chat.dm_room("alice"), f"/echo while down {n}")
    first.chat.say("bob", first.chat.dm_room("bob"), "/echo new room")
    second.connect(first=True)
    assert second.replies("alice") == ["echo before", "echo while down 0", "echo while down 1"]
    assert second.replies("bob") == ["echo new room"]
    second.app.stop(TIMEOUT)


def test_catch_up_works_with_the_real_store(tmp_path):
    from bot.store import Store

    store = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
    b = Bot(store)
    b.connect(first=True)
    b.dm("alice", "/echo one")
    b.send(b.chat.get_message(b.chat.messages[b.chat.dm_room("alice")][0].id))
    assert b.replies("alice") == ["echo one"]
    b.app.stop(TIMEOUT)
    missed = b.chat.say("alice", b.chat.dm_room("alice"), "/echo two")
    again = Bot(store)
    again.chat = b.chat
    again.app.chat = b.chat
    again.connect(first=True)
    assert again.replies("alice") == ["echo one", "echo two"]
    assert store.cursor(missed.rid).last_msg_id == missed.id
    again.app.stop(TIMEOUT)
    store.close()


def test_a_first_line_two_runs_missed_is_replayed_by_the_third(tmp_path):
    """A chain of kills (found by the kill -9 test on PostgreSQL): a contact's first line in a
    new room (no cursor) comes while the bot is down; the next run is killed before its
    catch-up got to it, while other rooms moved on. The run after must still reach back to
    it: a run's start becomes the point for rooms without a cursor only once it caught up."""
    from bot.store import Store

    store = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
    second = timedelta(seconds=1)

    def run(at) -> Bot:
        b = Bot(store)
        b.app.catch_up_planner.clock = lambda: at
        return b

    first = run(NOW)
    first.chat.add_room(first.chat.dm_room("alice"), "d")
    first.connect(first=True)
    first.send(first.chat.say("alice", first.chat.dm_room("alice"), "/echo a", ts=NOW + second))
    assert first.replies("alice") == ["echo a"]
    first.app.stop(TIMEOUT)
    chat = first.chat
    hello = chat.say("bob", chat.dm_room("bob"), "/echo hello", ts=NOW + 2 * second)

    killed = run(NOW + 3 * second)
    killed.chat = killed.app.chat = chat
    real_history = chat.history

    def history(rid, **kw):  # the kill comes before bob's room is caught up
        if rid == hello.rid:
            raise TimeoutError("killed")
        return real_history(rid, **kw)

    chat.history = history  # type: ignore[method-assign]
    killed.connect(first=True)
    killed.send(chat.say("alice", chat.dm_room("alice"), "/echo b", ts=NOW + 4 * second))
    killed.settle()  # alice's room moves on past bob's line
    killed.app.stop(TIMEOUT)
    chat.history = real_history  # type: ignore[method-assign]

    third = run(NOW + 5 * second)
    third.chat = third.app.chat = chat
    third.connect(first=True)
    assert third.replies("bob") == ["echo hello"]
    third.app.stop(TIMEOUT)
    store.close()


def test_stop_finishes_in_flight_work_and_slow_jobs(bot):
    bot.gates["slow"] = gate = threading.Event()
    bot.dm("alice", "/echo slow")
    slow_done = threading.Event()
    bot.app.run_slow(lambda: (gate.wait(TIMEOUT), slow_done.set()))
    result = []
    stopper = threading.Thread(target=lambda: result.append(bot.app.stop(TIMEOUT)))
    stopper.start()
    gate.set()
    stopper.join(TIMEOUT)
    assert result == [True]
    assert slow_done.is_set()
    assert bot.chat.sent(bot.chat.dm_room("alice")) == ["echo slow"]


def test_metrics_count_events_and_commands():
    from bot.runtime.metrics import Metrics

    metrics = Metrics()
    b = Bot(metrics=metrics)
    b.connect()
    b.dm("alice", "/echo x")
    b.dm("alice", "/boom")
    b.dm("alice", "/nope")
    b.settle()
    value = metrics.registry.get_sample_value
    assert value("omnicat_events_received_total") == 3
    assert value("omnicat_commands_total", {"command": "echo", "outcome": "ok"}) == 1
    assert value("omnicat_commands_total", {"command": "boom", "outcome": "error"}) == 1
    # a typed word is no label: unknown commands count under one (issue 20)
    assert value("omnicat_commands_total", {"command": "unknown", "outcome": "unknown"}) == 1
    assert value("omnicat_commands_total", {"command": "nope", "outcome": "unknown"}) is None
    assert value("omnicat_command_latency_seconds_count") == 3
    b.app.stop(TIMEOUT)


def test_two_thousand_unknown_commands_leave_metrics_bounded():
    """Issue 20: 2,000 distinct unknown `/words` add one series, not 2,000, to `/metrics`."""
    from prometheus_client import generate_latest

    from bot.runtime.metrics import Metrics

    metrics = Metrics()
    b = Bot(metrics=metrics)
    b.connect()
    b.dm("alice", "/echo x")
    b.settle()

    def series() -> int:
        text = generate_latest(metrics.registry).decode()
        return sum(1 for line in text.splitlines() if line and not line.startswith("#"))

    before = series()
    for i in range(2000):
        b.dm(f"user{i % 50}", f"/zz{i}qq")
    b.settle()
    after = series()
    value = metrics.registry.get_sample_value
    counted = value("omnicat_commands_total", {"command": "unknown", "outcome": "unknown"})
    # every word was counted (rate-limited ones under their own outcome, same label)
    limited = value("omnicat_commands_total", {"command": "unknown", "outcome": "rate_limited"})
    assert (counted or 0) + (limited or 0) == 2000
    # at most the `unknown` command's outcomes (with _created samples) are new
    assert after - before <= 6, generate_latest(metrics.registry).decode()[-2000:]
    assert "zz" not in generate_latest(metrics.registry).decode()
    b.app.stop(TIMEOUT)


def test_bare_words_a_contact_writes_are_messages_not_commands(bot):
    bot.chat.add_user("carol", "user")
    for text in ("ping me please", "take 3 seconds to read this", "take care", "ping"):
        bot.dm("carol", text)
    bot.settle()
    assert bot.intake == [
        ("ping me please", "dm"),
        ("take 3 seconds to read this", "dm"),
        ("take care", "dm"),
    ]
    assert bot.replies("carol") == ["pong"]
    bot.dm("alice", "take 3")
    bot.dm("alice", "take care")  # an agent's bare word with a bad argument: not a command either
    assert bot.replies("alice") == ["took 3"]
    # with the prefix it is a command, so the error is explained
    bot.dm("carol", "/take 3")
    assert bot.replies("carol")[-1] == "/take is a command for support agents."


def test_stray_slash_words_in_rooms_are_text_but_typos_get_did_you_mean(bot):
    bot.send(bot.chat.say("carol", "conv1", "/shrug whatever"))
    bot.send(bot.chat.say("alice", "conv1", "/tkae 3"))
    bot.settle()
    assert bot.conversation == [("/shrug whatever", "", False)]
    assert bot.chat.sent("conv1") == ["Unknown command /tkae. Did you mean /take?"]
    bot.dm("carol", "/shrug")
    assert bot.replies("carol") == ["Unknown command /shrug. Type /help to see what you can use."]


def test_a_command_declaring_an_unknown_permission_fails_at_start():
    reg = Registry()
    reg.command("close", permission="close-livechat-rooms")(lambda ctx: None)
    with pytest.raises(ValueError, match="did you mean close-livechat-room"):
        App(store=FakeStore(), registry=reg, chat=FakeChat())


def test_the_real_command_package_loads_and_answers_help():
    app = App(store=FakeStore(), chat=FakeChat(), clock=lambda: NOW)
    chat = app.chat
    chat.add_user("alice", "livechat-agent")
    app.on_connected(True)
    assert app.ready.wait(TIMEOUT)
    app.on_message(chat.say("alice", chat.dm_room("alice"), "help"))
    assert app.wait_idle(TIMEOUT)
    assert chat.sent(chat.dm_room("alice"))[0].startswith("Commands you can use here:")
    app.stop(TIMEOUT)


def test_reemissions_and_edits_of_messages_from_before_the_start_are_stale():
    b = Bot()
    rid = b.chat.dm_room("alice")
    old = b.chat.say("alice", rid, "/echo from last month")
    old_text = b.chat.say("carol", b.chat.dm_room("carol"), "old question")
    b.connect(first=True)
    # a reaction (or a thread reply) re-emits the old message with a new _updatedAt
    b.send(Message(**{**_fields(old), "updated_at": NOW}))
    b.send(b.chat.edit(old_text, "old question, edited"))
    b.settle()
    assert b.chat.sent() == []
    assert b.intake == []
    # a message delivered slightly out of order is still new
    b.send(b.chat.say("alice", rid, "/echo late", ts=NOW - timedelta(seconds=5)))
    assert b.replies("alice") == ["echo late"]
    b.app.stop(TIMEOUT)


def test_reconnect_after_a_fresh_start_with_no_rooms_catches_up_since_start():
    b = Bot()
    b.connect(first=True)  # no rooms, no cursors yet
    b.app.on_disconnected("test")
    rid = b.chat.dm_room("alice")
    b.chat.say("alice", rid, "/echo while away", ts=NOW + timedelta(seconds=5))
    b.connect(first=False)
    assert b.replies("alice") == ["echo while away"]
    b.app.stop(TIMEOUT)


def test_a_chatty_contact_is_never_rate_limited_but_bare_commands_are():
    now = [0.0]
    b = Bot(count=2, monotonic=lambda: now[0])
    b.chat.add_user("carol", "user")
    b.connect()
    for n in range(5):
        b.dm("carol", f"take care {n}")
    b.settle()
    assert len(b.intake) == 5
    for _ in range(4):
        b.dm("carol", "ping")
    replies = b.replies("carol")
    assert replies[:2] == ["pong", "pong"]
    assert [r.split("`")[1] for r in replies[2:]] == ["ping", "ping"]
    assert all(r.startswith("Too many commands at once") for r in replies[2:])
    b.app.stop(TIMEOUT)


def test_a_planner_overtaken_by_a_disconnect_does_not_go_live():
    b = Bot()
    b.app.listener.plan_and_go_live(True, generation=-1)  # as if a disconnect came in meanwhile
    assert not b.app.ready.is_set()
    b.connect()
    assert b.app.ready.is_set()
    b.app.stop(TIMEOUT)


def test_catch_up_replays_are_not_rate_limited_but_a_live_flood_is():
    store = FakeStore()
    b = Bot(store, count=2)
    rid = b.chat.dm_room("alice")
    seen = b.chat.say("alice", rid, "/echo seen")
    store.mark_processed(seen.id, revision_of(seen), rid)
    store.advance_cursor(rid, seen.ts, seen.id)
    for n in range(5):  # sent while the bot was away: more than the limit
        b.chat.say("alice", rid, f"/echo missed {n}")
    b.connect(first=False)
    assert b.replies("alice") == [f"echo missed {n}" for n in range(5)]
    # the replays did not empty the bucket: a live burst gets the whole of it, then refusals
    for n in range(4):
        b.dm("alice", f"/echo live {n}")
    replies = b.replies("alice")[5:]
    assert replies[:2] == ["echo live 0", "echo live 1"]
    assert [r.split("`")[1] for r in replies[2:]] == ["/echo live 2", "/echo live 3"]
    b.app.stop(TIMEOUT)


def test_processed_marks_far_behind_the_cursor_are_pruned_after_catch_up_and_then_periodically(
    tmp_path,
):
    from datetime import UTC, datetime

    from bot.store import Store
    from bot.store.schema_runtime import processed_messages

    store = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
    now = datetime.now(UTC)

    def old_mark(msg_id: str) -> None:
        store.mark_processed(msg_id, "0", "r")
        with store.transaction() as conn:
            conn.execute(
                processed_messages.update()
                .where(processed_messages.c.msg_id == msg_id)
                .values(processed_at=now - timedelta(days=3))
            )

    store.advance_cursor("r", now)
    old_mark("ancient")
    store.mark_processed("recent", "0", "r")
    app = App(
        store=store,
        config=config(),
        registry=Registry(),
        chat=FakeChat(),
        prune_every=0.05,
        prune_margin=timedelta(days=1),
    )
    app.on_connected(False)
    wait_for(lambda: not store.is_processed("ancient"))  # right after catch-up
    old_mark("later")
    wait_for(lambda: not store.is_processed("later"))  # and again on the timer
    assert store.is_processed("recent", "0")  # the catch-up window keeps its marks
    assert app.stop(TIMEOUT)
    assert app.pruner.started and not app.pruner.running
    store.close()


def test_prune_margin_must_outlast_the_stale_grace():
    with pytest.raises(ValueError, match="prune_margin"):
        App(store=FakeStore(), config=config(), registry=Registry(), prune_margin=timedelta(0))


def test_the_routes_are_given_once():
    app = App(store=FakeStore(), config=config(), registry=Registry(), routes=Routes())
    with pytest.raises(RuntimeError, match="once"):
        app.register(Routes())
    app.stop(TIMEOUT)


def test_a_handler_group_ends_at_the_first_handler_that_takes_the_event():
    seen: list[str] = []
    b_routes = Routes(
        groups=[
            [
                Intake(lambda m, kind: seen.append("first")),
                Intake(lambda m, kind: seen.append("never: the group ended")),
            ],
            [Intake(lambda m, kind: seen.append("next group"))],
        ]
    )
    chat = FakeChat()
    app = App(
        store=FakeStore(),
        config=config(),
        registry=Registry(),
        chat=chat,
        routes=b_routes,
        live=True,
    )
    chat.add_user("carol", "user")
    assert app.process(chat.say("carol", chat.dm_room("carol"), "hello")) == "intake"
    assert seen == ["first", "next group"]
    app.stop(TIMEOUT)


def test_subscription_handler_gets_inserted_and_removed_not_each_unread_update():
    from bot.chat.types import Subscription

    seen: list[tuple[str, str]] = []
    routes = Routes(subscription=lambda action, sub, rid: seen.append((action, rid)))
    app = App(store=FakeStore(), config=config(), registry=Registry(), routes=routes, live=True)
    sub = Subscription(id="s", rid="R9", type="l")
    for action in ("inserted", "updated", "updated", "removed"):
        app.on_subscription(action, None if action == "removed" else sub, "R9")
    assert app.wait_idle(TIMEOUT)
    assert seen == [("inserted", "R9"), ("removed", "R9")]
    app.stop(TIMEOUT)


def test_room_cursors_are_bounded_and_an_evicted_room_neither_repeats_nor_loses(
    tmp_path, monkeypatch
):
    """Issue 20: a flood of distinct rooms evicts a room's cursor from memory; the room then
    falls back to the store's cursor, behind which its old marks may be pruned already."""
    from bot.dispatch import rooms
    from bot.store import Store
    from bot.store.schema_runtime import processed_messages

    monkeypatch.setattr(rooms, "ROOM_CURSORS_KEPT", 3)
    store = Store(f"sqlite:///{tmp_path / 'omnicat.db'}")
    b = Bot(store)
    b.connect(first=True)
    rid = b.chat.dm_room("alice")
    first = b.chat.say("alice", rid, "/echo first", ts=NOW + timedelta(minutes=1))
    b.send(first)
    second = b.chat.say("alice", rid, "/echo second", ts=NOW + timedelta(hours=2))
    b.send(second)
    assert b.replies("alice") == ["echo first", "echo second"]
    # the pruner forgets marks far behind the room's cursor: here, the first message's
    with store.transaction() as conn:
        conn.execute(processed_messages.delete().where(processed_messages.c.msg_id == first.id))
    for n in range(5):  # more rooms than the bound: alice's cursor leaves memory
        b.dm(f"user{n}", f"/echo hi {n}")
    b.settle()
    assert len(b.app.room_book._cursors) <= 3
    assert rid not in b.app.room_book._cursors
    # a reaction re-emits the first message (no mark left): stale by the stored cursor
    b.send(Message(**{**_fields(first), "updated_at": NOW + timedelta(hours=3)}))
    # the second one again (its mark is kept): a duplicate
    b.send(Message(**{**_fields(second), "updated_at": NOW + timedelta(hours=3)}))
    # and a new message in the evicted room is answered
    b.send(b.chat.say("alice", rid, "/echo third", ts=NOW + timedelta(hours=3)))
    assert b.replies("alice") == ["echo first", "echo second", "echo third"]
    assert [b.replies(f"user{n}") for n in range(5)] == [[f"echo hi {n}"] for n in range(5)]
    b.app.stop(TIMEOUT)
    store.close()
