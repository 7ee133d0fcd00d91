"""`send_soon` (`bot.rocketchat.in_flight`, `bot.chat.gates`): a command's answer goes out over
DDP without waiting, and is finished later as `send` would finish it: REST when DDP failed or
stored nothing, under the same `_id`, or reported lost. Within a room nothing overtakes it.

The scripted DDP server and `responses` for REST, as `test_transport_client.py`."""

from __future__ import annotations

import json
import threading
from typing import Any

import responses
from test_transport_client import (  # noqa: F401 (fixtures)
    MSG,
    Recorder,
    bot,
    rate_limited_once,
    refuse_as_too_long,
    rest,
    rest_stores,
    server,
)
from test_transport_ddp import ScriptedServer, wait_for

from bot.chat import gates
from bot.chat.errors import RocketChatError
from bot.chat.gates import Gate
from bot.rocketchat.client import RocketChatClient

Bot = tuple[RocketChatClient, Recorder]


def _stored(params: list[Any]) -> dict[str, Any]:
    return {**MSG, "_id": params[0]["_id"], "rid": params[0]["rid"], "msg": params[0]["msg"]}


def _held(srv: ScriptedServer) -> list[tuple[str, dict[str, Any]]]:
    """sendMessage calls the server does not answer yet: (call id, message)."""
    held: list[tuple[str, dict[str, Any]]] = []

    def send_message(mid: str, params: list[Any]) -> list[Any]:
        held.append((mid, params[0]))
        return []

    srv.handlers["sendMessage"] = send_message
    return held


def _answer(srv: ScriptedServer, mid: str, message: dict[str, Any]) -> None:
    srv.push(json.dumps({"msg": "result", "id": mid, "result": _stored([message])}))


def _send_unawaited(
    client: RocketChatClient, text: str
) -> tuple[list[Gate], list[RocketChatError]]:
    """`send_soon` to R1 inside an event's handling: the gates it left, and what it reported
    lost (a list filled when a gate settles)."""
    lost: list[RocketChatError] = []
    with gates.collecting() as started:
        client.send_soon("R1", text, lost=lost.append)
    return started.close(), lost


def _sent_texts(srv: ScriptedServer) -> list[str]:
    return [f["params"][0]["msg"] for f in srv.received if f.get("method") == "sendMessage"]


def test_the_answer_goes_out_unawaited_and_settles_with_the_event(
    bot: Bot,  # noqa: F811
    server: ScriptedServer,  # noqa: F811
) -> None:
    client, _ = bot
    held = _held(server)
    (gate,), lost = _send_unawaited(client, "the answer")  # returns with no answer yet
    assert client.answers_in_flight == 1
    wait_until_sent(server, 1)
    _answer(server, held[0][0], held[0][1])
    gate.settle()
    gate.settle()  # once is enough; again is nothing
    assert lost == [] and client.answers_in_flight == 0
    assert _sent_texts(server) == ["the answer"]


def test_outside_an_event_it_is_a_send(
    bot: Bot,  # noqa: F811
    server: ScriptedServer,  # noqa: F811
) -> None:
    client, _ = bot
    server.handlers["sendMessage"] = lambda mid, params: [
        {"msg": "result", "id": mid, "result": _stored(params)}
    ]
    client.send_soon("R1", "at once", lost=lambda exc: None)
    assert client.answers_in_flight == 0 and _sent_texts(server) == ["at once"]


def test_nothing_overtakes_a_message_in_flight_in_its_room(
    bot: Bot,  # noqa: F811
    server: ScriptedServer,  # noqa: F811
    rest: tuple[responses.RequestsMock, str],  # noqa: F811
) -> None:
    """The first answer's DDP call stored nothing (RC's silent refusal); REST stores it. The
    next message to the room (a plain `send`) goes out only after that."""
    client, _ = bot
    rsps, base = rest
    order: list[str] = []
    stored = rest_stores(rsps, base, lambda body: order.append("rest: " + body["msg"]))
    rsps.add(responses.GET, f"{base}/api/v1/chat.getMessage", json={"success": False}, status=400)

    def send_message(mid: str, params: list[Any]) -> list[Any]:
        order.append("ddp: " + params[0]["msg"])
        if params[0]["msg"] == "first":
            return [{"msg": "result", "id": mid}]  # no value: nothing stored
        return [{"msg": "result", "id": mid, "result": _stored(params)}]

    server.handlers["sendMessage"] = send_message
    (first,), _ = _send_unawaited(client, "first")
    client.send("R1", "second")
    assert order == ["ddp: first", "rest: first", "ddp: second"]
    ddp_first = next(f for f in server.received if f.get("method") == "sendMessage")
    assert stored[0]["_id"] == ddp_first["params"][0]["_id"]  # REST stored it under its id
    first.settle()  # settled already: nothing more goes out
    assert order == ["ddp: first", "rest: first", "ddp: second"]


def test_a_message_that_cannot_be_delivered_is_reported_lost(
    bot: Bot,  # noqa: F811
    server: ScriptedServer,  # noqa: F811
    rest: tuple[responses.RequestsMock, str],  # noqa: F811
) -> None:
    client, _ = bot
    rsps, base = rest
    refuse_as_too_long(server, rsps, base)
    held, lost = _send_unawaited(client, "x" * 6000)
    assert lost == []  # not known yet: nobody waited
    gates.settle_all(held)
    assert len(lost) == 1 and lost[0].key == "error-message-size-exceeded"


def test_a_connection_lost_in_flight_finishes_over_rest_under_the_same_id(
    bot: Bot,  # noqa: F811
    server: ScriptedServer,  # noqa: F811
    rest: tuple[responses.RequestsMock, str],  # noqa: F811
) -> None:
    client, _ = bot
    rsps, base = rest
    held = _held(server)
    bodies = rest_stores(rsps, base)
    in_flight, _ = _send_unawaited(client, "in flight")
    wait_until_sent(server, 1)
    server.kill_all()  # the answer never comes: the socket is gone
    gates.settle_all(in_flight)
    assert [b["msg"] for b in bodies] == ["in flight"]
    assert bodies[0]["_id"] == held[0][1]["_id"]


def wait_until_sent(srv: ScriptedServer, count: int) -> None:
    wait_for(lambda: len(_sent_texts(srv)) >= count)


def test_a_rate_limited_answer_is_sent_again_under_its_id_once_the_window_passed(
    bot: Bot,  # noqa: F811
    server: ScriptedServer,  # noqa: F811
) -> None:
    client, _ = bot
    seen = rate_limited_once(server)
    held, lost = _send_unawaited(client, "later")
    done = threading.Thread(target=gates.settle_all, args=(held,))
    done.start()
    done.join(10)
    assert not done.is_alive()  # settling its own room's send does not wait for itself
    assert lost == [] and len(seen) == 2 and seen[0] == seen[1]
    assert client.answers_in_flight == 0
