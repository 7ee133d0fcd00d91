"""Fuzz (issue 7): malformed or unexpected DDP frames and REST bodies from the server. The bot
stays up and keeps answering.

- DDP: the dev server pushes hypothesis-made frames down the bot's real socket (`changed` frames
  with wrong types, missing `args`, `{$date}` nonsense, messages in real rooms with absurd
  timestamps or authors, results for calls nobody made, non-JSON text…); between batches a
  person asks `/help` and must be answered.
- REST (unit): every `RestClient` call the bot makes, against bodies that are HTML, empty, the
  wrong JSON type or missing fields, with any status: only `RocketChatError`s come out.
- REST (end to end): the bot's HTTP session answers garbage for a while on the calls it makes
  while serving; afterwards it answers commands and opens conversations as before.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Any

import pytest
import requests
import responses
from chat import Chat, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability import invariants

from bot.chat.errors import RocketChatError
from bot.rocketchat.rest import RestClient

RANDOM = bool(os.environ.get("OMNICAT_FUZZ_RANDOM"))
HELP_START = "Commands you can use here:"

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
date = st.one_of(
    st.fixed_dictionaries({"$date": st.one_of(st.integers(), st.floats(), json_value)}),
    st.sampled_from(
        [
            {"$date": 9e15},
            {"$date": 4102444800000},  # 2100
            {"$date": -1},
            {"$date": "2026-01-01"},
            {"$date": None},
            "2026-11-26T16:00:00.000Z",
            "2999-01-01T00:00:00Z",
            "yesterday",
            {},
        ]
    ),
    json_value,
)


def message_dict(rids: list[str], users: list[dict[str, str]]) -> st.SearchStrategy[Any]:
    fields = {
        "_id": st.one_of(st.text(min_size=1, max_size=17), json_value),
        "rid": st.one_of(st.sampled_from(rids), json_value),
        "msg": st.one_of(st.sampled_from(["/help", "/take 1", "hello", ""]), json_value),
        "ts": date,
        "u": st.one_of(st.sampled_from(users), json_value),
        "t": st.one_of(st.none(), st.sampled_from(["uj", "rm", "au", "ul", "xyz"]), json_value),
        "editedAt": date,
        "_updatedAt": date,
        "tmid": json_value,
        "attachments": json_value,
    }
    return st.fixed_dictionaries({}, optional=fields)


NOW_MS = 1_790_000_000_000  # late 2026, in ms (Rocket.Chat's {$date})


def well_formed(rids: list[str], users: list[dict[str, str]]) -> st.SearchStrategy[Any]:
    """A message that parses: real rooms and people, odd content (a command, a system type, an
    edit or deletion of something unknown, a time far off, a thread reply to nothing)."""
    stamp = st.one_of(
        st.integers(NOW_MS - 10**10, NOW_MS + 10**10), st.sampled_from([0, 4102444800000])
    ).map(lambda ms: {"$date": ms})
    return st.fixed_dictionaries(
        {
            "_id": st.text("abcdefghijkmnopqrstuvwxyz23456789", min_size=5, max_size=17),
            "rid": st.sampled_from(rids),
            "msg": st.sampled_from(
                ["/help", "/take", "/close #1 done", "/hold", "hello", "", "!x", "/tkae", "2"]
            ),
            "ts": stamp,
            "u": st.sampled_from(users),
        },
        optional={
            "t": st.sampled_from(["uj", "ul", "au", "ru", "rm", "livechat-close", "x"]),
            "editedAt": stamp,
            "tmid": st.text(min_size=1, max_size=5),
            "_updatedAt": stamp,
        },
    )


def frames(uid: str, rids: list[str], users: list[dict[str, str]]) -> st.SearchStrategy[str]:
    message = st.one_of(message_dict(rids, users), well_formed(rids, users))
    changed = st.fixed_dictionaries(
        {"msg": st.just("changed")},
        optional={
            "collection": st.sampled_from(
                ["stream-room-messages", "stream-notify-user", "stream-notify-logged", "x"]
            )
            | json_value,
            "id": json_value,
            "fields": st.one_of(
                json_value,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "eventName": st.sampled_from(
                            [
                                "__my_messages__",
                                f"{uid}/subscriptions-changed",
                                f"{uid}/rooms-changed",
                                "user-status",
                            ]
                        )
                        | json_value,
                        "args": st.one_of(
                            json_value,
                            st.lists(st.one_of(message, json_value), max_size=3),
                            st.tuples(
                                st.sampled_from(["inserted", "updated", "removed"]), message
                            ).map(list),
                            st.lists(st.lists(json_value, max_size=4), max_size=2),
                        ),
                    },
                ),
            ),
        },
    )
    other = st.fixed_dictionaries(
        {
            "msg": st.sampled_from(
                [
                    "result",
                    "ready",
                    "nosub",
                    "ping",
                    "pong",
                    "added",
                    "removed",
                    "updated",
                    "error",
                    "connected",
                    "failed",
                    "nonsense",
                ]
            )
            | json_value
        },
        optional={
            "id": json_value,
            "result": json_value,
            "error": json_value,
            "subs": json_value,
            "session": json_value,
        },
    )
    as_json = st.one_of(changed, changed, other, json_value).map(json.dumps)
    raw = st.one_of(
        st.text(max_size=60),
        st.sampled_from(["", "{", "[]", "[{}]", "null", '{"msg":', "a" * 10_000]),
    )
    return st.one_of(as_json, as_json, as_json, raw)


def bot_session(chat: Chat) -> Any:
    sessions = [s for s in chat.server.ddp.sessions if s.user and s.user.username == "omnicat"]
    return sessions[-1] if sessions else None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_garbage_ddp_frames_never_stop_the_bot(make_chat: Any) -> None:
    chat = make_chat(
        config={
            "commands": {"rate_limit": {"count": 0}},
            "departments": {"sales": {"agents": ["alice"]}, "support": {"agents": ["bob"]}},
        }
    )
    alice, carol, dave = chat.user("alice"), chat.user("carol"), chat.user("dave")
    assert alice.dm_bot("/help").startswith(HELP_START)
    assert alice.dm_bot("/status on") == "You are now available for chats."
    assert dave.dm_bot("I need a quote").startswith("Hello! Which team")
    assert "Your conversation #" in dave.dm_bot("sales")
    conv = chat.bot.services.repo.open_for_contact("dave")
    assert alice.dm_bot(f"/take {conv.number}").startswith(f"You took #{conv.number}")
    uid = chat.server.user_id("omnicat")
    rids = [alice.bot_dm, carol.bot_dm, conv.rid, "GENERAL", "nope"]
    users = [
        {"_id": alice.id, "username": "alice"},
        {"_id": carol.id, "username": "carol"},
        {"_id": dave.id, "username": "dave"},
        {"_id": uid, "username": "omnicat"},
        {"_id": "ghost", "username": "ghost"},
    ]
    sent = Counter[str]()
    probes = 0

    @settings(
        max_examples=int(os.environ.get("OMNICAT_FUZZ_EXAMPLES", "120")),
        deadline=None,
        derandomize=not RANDOM,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batch=st.lists(frames(uid, rids, users), min_size=1, max_size=8))
    def run(batch: list[str]) -> None:
        nonlocal probes
        session = wait_until(lambda: bot_session(chat), 15, "the bot's socket")
        for text in batch:
            chat.server.ddp.loop.call_soon_threadsafe(session.send_raw, text)
            sent["frames"] += 1
        sent["batches"] += 1
        if sent["batches"] % 10 == 0:
            probes += 1
            answer = alice.dm_bot("/help", timeout=20)
            assert answer.startswith(HELP_START), answer

    run()
    chat.idle(30)
    assert chat.bot.ready and chat.bot.client.connected
    assert alice.dm_bot("/help", timeout=20).startswith(HELP_START)
    told = carol.dm_bot("My printer is on fire", timeout=20)
    assert "Your conversation #" in told or "Which team" in told, told
    chat.idle(30)
    # forged frames are events the bot believed (a forged "/close" by alice did close): what
    # it did must still agree with the rooms
    found = invariants.check(chat.config_data["store"]["url"], chat.server, ["dave", "carol"])
    assert not found.problems, found.problems
    print(
        f"\n[fuzz-ddp] {sent['frames']} garbage frames in {sent['batches']} batches down the "
        f"bot's socket; answered {probes + 1} /help probes and a new contact; still connected "
        f"(reconnects: {chat.bot.client.reconnects})"
    )


# --- REST: the client maps any body to typed errors ------------------------------------------

#: (method name, call) — every RestClient call the bot's transport makes
CALLS: list[tuple[str, Any]] = [
    ("me", lambda c: c.me()),
    ("users.info", lambda c: c.user_info(username="alice")),
    ("users.getPresence", lambda c: c.presence("u1")),
    ("im.create", lambda c: c.dm_create("alice")),
    ("rooms.info", lambda c: c.room_info("r1")),
    ("groups.create", lambda c: c.create_group("omni-1-x", ["x"])),
    ("groups.invite", lambda c: c.invite("r1", "u1")),
    ("groups.kick", lambda c: c.kick("r1", "u1")),
    ("groups.archive", lambda c: c.archive("r1")),
    ("groups.setTopic", lambda c: c.set_topic("r1", "t")),
    ("groups.members", lambda c: c.members("r1")),
    ("groups.files", lambda c: c.files("r1")),
    ("subscriptions.get", lambda c: c.subscriptions()),
    ("groups.history", lambda c: c.history("r1")),
    ("im.history", lambda c: c.history("r1", "d")),
    ("chat.postMessage", lambda c: c.post_message("r1", "hi")),
    ("chat.sendMessage", lambda c: c.send_message({"_id": "m1", "rid": "r1", "msg": "hi"})),
    ("chat.update", lambda c: c.update_message("r1", "m1", "hi")),
    ("chat.delete", lambda c: c.delete_message("r1", "m1")),
    ("chat.getMessage", lambda c: c.get_message("m1")),
]

body = st.one_of(
    st.sampled_from(
        [
            b"",
            b"<html><body>502 Bad Gateway</body></html>",
            b"null",
            b"[]",
            b"{}",
            b'{"success": true}',
            b'{"success": false}',
            b'{"success": true, "messages": "x", "user": [], "room": 5, "group": null}',
            b'{"success": true, "update": [{}], "remove": {}, "members": [1, null]}',
            b'{"success": true, "message": {"_id": 1, "ts": {"$date": "x"}}}',
            b'{"success": true, "messages": [{"_id": "a", "rid": "r1", "ts": "nope"}]}',
            b'{"success": true, "total": "many", "count": -1, "offset": null}',
            b"\xff\xfe\x00garbage",
            b'{"error": [1, 2], "errorType": {}}',
        ]
    ),
    json_value.map(lambda v: json.dumps(v).encode()),
)
status = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503])


@pytest.mark.timeout(300)
def test_garbage_rest_bodies_only_raise_typed_errors() -> None:
    outcomes = Counter[str]()

    @settings(
        max_examples=int(os.environ.get("OMNICAT_FUZZ_EXAMPLES", "400")),
        deadline=None,
        derandomize=not RANDOM,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(call=st.sampled_from(CALLS), body=body, status=status, html=st.booleans())
    def run(call: tuple[str, Any], body: bytes, status: int, html: bool) -> None:
        _name, fn = call
        content_type = "text/html" if html else "application/json"
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for verb in (responses.GET, responses.POST):
                mock.add(
                    verb,
                    re.compile(r"http://rc\.test/api/v1/.*"),
                    body=body,
                    status=status,
                    content_type=content_type,
                )
            client = RestClient(
                "http://rc.test", user_id="bot1", token="pat", max_attempts=2, sleep=lambda s: None
            )
            try:
                fn(client)
                outcomes["returned"] += 1
            except RocketChatError as exc:
                outcomes[type(exc).__name__] += 1
            # anything else (KeyError, TypeError, JSONDecodeError…) fails the test with the call

    run()
    print(f"\n[fuzz-rest] {sum(outcomes.values())} calls on garbage bodies: {dict(outcomes)}")


# --- REST end to end: garbage for a while, then business as usual ---------------------------


class Garbage:
    """Wraps the bot's `requests.Session.send`: while on, every `nth` call answers garbage."""

    BODIES = [
        (200, "text/html", b"<html>maintenance</html>"),
        (200, "application/json", b""),
        (200, "application/json", b"[]"),
        (200, "application/json", b'{"success": true}'),
        (502, "text/html", b"<h1>Bad Gateway</h1>"),
        (500, "application/json", b'{"success": false, "error": 5}'),
        (200, "application/json", b'{"success": true, "room": "nope", "user": 7}'),
    ]

    def __init__(self, session: requests.Session, nth: int = 2) -> None:
        self.session = session
        self.real = session.send
        self.nth = nth
        self.on = False
        self.calls = 0
        self.garbled = Counter[str]()
        session.send = self.send  # type: ignore[method-assign]

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.calls += 1
        if not self.on or self.calls % self.nth or "/login" in (request.url or ""):
            return self.real(request, **kwargs)
        status, ctype, content = self.BODIES[self.calls % len(self.BODIES)]
        response = requests.Response()
        response.status_code = status
        response._content = content
        response.headers["Content-Type"] = ctype
        response.url = request.url or ""
        response.request = request
        self.garbled[(request.url or "").split("/api/v1/")[-1].split("?")[0]] += 1
        return response

    def restore(self) -> None:
        self.session.send = self.real  # type: ignore[method-assign]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_garbage_rest_answers_then_business_as_usual(make_chat: Any) -> None:
    chat = make_chat(
        config={
            "departments": {"support": {"agents": ["bob"]}},
            "commands": {"rate_limit": {"count": 0}},
        }
    )
    bob, carol, dave = chat.user("bob"), chat.user("carol"), chat.user("dave")
    assert bob.dm_bot("/status on") == "You are now available for chats."
    garbage = Garbage(chat.bot.client.rest.session)
    try:
        garbage.on = True
        # While every other REST call of the bot gets garbage: people keep writing.
        said = [
            bob.say(bob.bot_dm, text) for text in ["/help", "/queue", "/mine", "/take", "/status"]
        ]
        said.append(carol.say(carol.bot_dm, "Help, the REST API is drunk"))
        # handled, not just idle: a line still on its way over the socket leaves the bot idle
        # too (and carol's "New chat" notice would then reach bob after his /help below)
        store = chat.bot.store
        wait_until(lambda: all(store.is_processed(m.id) for m in said), 60, "the lines handled")
        chat.idle(60)
        garbage.on = False
        assert chat.bot.ready
        assert bob.dm_bot("/help", timeout=20).startswith(HELP_START)
        told = dave.dm_bot("Now it works?", timeout=20)
        assert "Your conversation #" in told, told
        n = int(told.split("#", 1)[1].split()[0])
        took = bob.dm_bot(f"/take {n}", timeout=20)
        assert took.startswith(f"You took #{n}"), took
    finally:
        garbage.restore()
    print(
        f"\n[fuzz-rest] e2e: {sum(garbage.garbled.values())} of the bot's {garbage.calls} REST "
        f"calls answered garbage ({dict(garbage.garbled)}); afterwards /help, a new "
        f"conversation and /take all worked"
    )


# --- the regression the DDP fuzz found: a message from the future -----------------------------


def test_a_message_stamped_in_the_future_does_not_silence_its_room(make_chat: Any) -> None:
    chat = make_chat(config={"commands": {"rate_limit": {"count": 0}}})
    alice = chat.user("alice")
    assert alice.dm_bot("/help").startswith(HELP_START)
    session = wait_until(lambda: bot_session(chat), 15, "the bot's socket")
    from_2100 = {
        "_id": "future1",
        "rid": alice.bot_dm,
        "msg": "hello from 2100",
        "ts": {"$date": 4102444800000},
        "u": {"_id": alice.id, "username": "alice"},
    }
    frame = {
        "msg": "changed",
        "collection": "stream-room-messages",
        "id": "id",
        "fields": {"eventName": "__my_messages__", "args": [from_2100, {"roomType": "d"}]},
    }
    chat.server.ddp.loop.call_soon_threadsafe(session.send_raw, json.dumps(frame))
    wait_until(lambda: chat.store.is_processed("future1"), what="the future message handled")
    chat.idle()
    assert alice.dm_bot("/help", timeout=10).startswith(HELP_START)
    # and after a restart, catch-up still reads the room
    chat.stop_bot()
    sent = alice.say(alice.bot_dm, "/help")
    chat.start_bot()
    assert alice.wait_reply(alice.bot_dm, sent.id, timeout=15).startswith(HELP_START)


def test_a_stored_cursor_in_the_future_is_replaced(tmp_path: Any) -> None:
    from datetime import UTC, datetime

    from bot.store import Store

    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        store.advance_cursor("r1", datetime(2100, 1, 1, tzinfo=UTC), "future")
        now = datetime.now(UTC)
        assert store.advance_cursor("r1", now, "real")
        assert store.cursor("r1").last_msg_id == "real"
        assert not store.advance_cursor("r1", datetime(2020, 1, 1, tzinfo=UTC), "old")
    finally:
        store.close()
