"""Strict mode (issue 21): the dev server holds requests to Rocket.Chat's own contracts — the
validators `@rocket.chat/rest-typings` publishes (exported by tools/contracts.py) for REST, and
the `check()`s of the DDP methods the bot calls."""

from __future__ import annotations

import json

import pytest
import requests
from ddp_client import DDPTestClient
from devserver_fixtures import server_fixture  # noqa: F401 - the `server` fixture

from bot.devserver import DevServer
from bot.devserver.contracts import available, check_ddp, parse_query
from bot.devserver.contracts.validate import first_error

needs_contracts = pytest.mark.skipif(
    available() is None, reason="no REST contracts: run `python tools/contracts.py`"
)


def auth(server: DevServer, user: str = "omnicat") -> dict[str, str]:
    uid, token = server.login_token(user)
    return {"X-User-Id": uid, "X-Auth-Token": token}


# ---- REST: the published validators --------------------------------------------------------


@needs_contracts
def test_an_undeclared_property_is_refused_with_rocket_chats_error(server: DevServer) -> None:
    assert server.strict
    r = requests.post(
        f"{server.url}/api/v1/livechat/room.forward",
        json={"roomId": "r1", "departmentId": "d1", "reason": "busy"},
        headers=auth(server),
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json() == {
        "success": False,
        "error": "must NOT have additional properties [invalid-params]",
        "errorType": "invalid-params",
    }
    # Under oneOf (roomId or channel) ajv lists each branch's error, then its own.
    r = requests.post(
        f"{server.url}/api/v1/chat.postMessage",
        json={"roomId": "GENERAL", "text": "hi", "colour": "red"},
        headers=auth(server),
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["error"] == (
        "must NOT have additional properties\n must have required property 'channel'\n"
        " must match exactly one schema in oneOf [invalid-params]"
    )
    # Nothing was posted: the refusal comes before the handler, as in Rocket.Chat.
    assert not [m for m in server.messages("GENERAL") if m.get("msg") == "hi"]
    # The declared shape goes through.
    ok = requests.post(
        f"{server.url}/api/v1/chat.postMessage",
        json={"roomId": "GENERAL", "text": "hi"},
        headers=auth(server),
        timeout=10,
    )
    assert ok.status_code == 200, ok.text


@needs_contracts
def test_get_checks_the_query_as_the_router_parses_it(server: DevServer) -> None:
    url, headers = f"{server.url}/api/v1", auth(server)
    # `count` arrives as the string "5"; the query validator coerces it to the declared number.
    ok = requests.get(f"{url}/settings.public?_id=Site_Name&count=5", timeout=10)
    assert ok.status_code == 200 and ok.json()["settings"][0]["_id"] == "Site_Name"
    missing = requests.get(f"{url}/chat.getMessage", headers=headers, timeout=10)
    assert missing.status_code == 400
    assert missing.json()["error"] == "must have required property 'msgId' [invalid-params]"
    bad = requests.get(f"{url}/settings?_id=Site_Name", headers=headers, timeout=10)
    assert bad.json()["errorType"] == "invalid-params" and bad.status_code == 400
    # A path the package declares with a parameter (`settings/:_id`) and none (`me`) pass through.
    assert requests.get(f"{url}/me", headers=headers, timeout=10).status_code == 200


@needs_contracts
def test_a_validator_of_the_path_params_is_not_checked_against_query_or_body(
    server: DevServer,
) -> None:
    """The package types `livechat/visitor/:token` with `{token}` (isLivechatVisitorTokenGetProps,
    …DeleteProps, isLivechatVisitorTokenRoomProps): the client's call, whose token goes in the
    path. RC's router validates only the query (GET) or the body, and registers these routes
    without validateParams (app/livechat/server/api/v1/visitor.ts reads `this.urlParams`)."""
    contracts = available()
    assert contracts is not None
    for method, route in [
        ("GET", "livechat/visitor/:token"),
        ("DELETE", "livechat/visitor/:token"),
        ("GET", "livechat/visitor/:token/room"),
    ]:
        assert contracts.published(method, route) is not None, (method, route)
        assert contracts.get(method, route) is None, (method, route)
    # Validators of the query next to a path parameter still apply.
    assert contracts.get("GET", "livechat/messages.history/:rid") is not None
    url = f"{server.url}/api/v1/livechat/visitor/no-such-token"
    for r in (requests.get(url, timeout=10), requests.delete(url, timeout=10)):
        assert r.status_code == 400 and r.json()["errorType"] == "invalid-token", r.text
    # An undeclared query property is not refused either: nothing validates that query.
    assert requests.get(f"{url}?x=1", timeout=10).json()["errorType"] == "invalid-token"


@needs_contracts
def test_typescripts_own_types_name_no_validator() -> None:
    """`livechat/sms-incoming/:service` takes `params: unknown`; isLoginProps is declared as
    ValidateFunction<unknown>, which does not make it that endpoint's validator."""
    contracts = available()
    assert contracts is not None
    assert contracts.published("POST", "livechat/sms-incoming/:service") is None
    assert contracts.published("POST", "login") is not None


@needs_contracts
def test_the_refusal_is_recorded_like_any_call(server: DevServer) -> None:
    server.clear_calls()
    requests.post(
        f"{server.url}/api/v1/livechat/room.forward",
        json={"roomId": "r1", "departmentId": "d1", "why": "x"},
        headers=auth(server),
        timeout=10,
    )
    (call,) = [c for c in server.calls if c.name == "livechat/room.forward"]
    assert call.status == 400


def test_a_lenient_server_lets_the_same_request_through() -> None:
    with DevServer(
        {"users": [{"username": "u", "password": "u-dev", "roles": ["user"]}]}, strict=False
    ) as srv:
        uid, token = srv.login_token("u")
        r = requests.get(
            f"{srv.url}/api/v1/settings?_id=Site_Name",
            headers={"X-User-Id": uid, "X-Auth-Token": token},
            timeout=10,
        )
        assert r.status_code == 200


# ---- the validator itself (no export needed) -----------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "roomId": {"type": "string", "minLength": 1},
        "count": {"type": "number", "nullable": True},
        "open": {"type": "boolean"},
        "agents": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["roomId"],
    "additionalProperties": False,
}


def test_ajv_messages_order_and_coercion() -> None:
    assert first_error(SCHEMA, {"roomId": "r"}, arrays=False) is None
    assert first_error(SCHEMA, {}, arrays=False) == "must have required property 'roomId'"
    # required comes before additionalProperties, as in ajv
    assert first_error(SCHEMA, {"x": 1}, arrays=False) == "must have required property 'roomId'"
    assert first_error(SCHEMA, {"roomId": "r", "x": 1}, arrays=False) == (
        "must NOT have additional properties"
    )
    assert first_error(SCHEMA, {"roomId": ""}, arrays=False) == (
        "must NOT have fewer than 1 characters"
    )
    # coerceTypes: query strings become the declared number / boolean; null is allowed
    q = parse_query("roomId=r&count=50&open=true")
    assert first_error(SCHEMA, q, arrays=True) is None
    assert first_error(SCHEMA, {"roomId": "r", "count": None}, arrays=False) is None
    assert first_error(SCHEMA, {"roomId": "r", "count": "many"}, arrays=False) == "must be number"
    # coerceTypes "array": one `agents=a` is a one-item list for the query validator only
    assert first_error(SCHEMA, parse_query("roomId=r&agents=a"), arrays=True) is None
    assert first_error(SCHEMA, parse_query("roomId=r&agents=a"), arrays=False) == "must be array"
    # anyOf: each branch's first error, then the combinator's own
    either = {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}
    assert first_error(either, {}, arrays=False) == (
        "must have required property 'a'\n must have required property 'b'\n"
        " must match a schema in anyOf"
    )


def test_query_strings_parse_as_qs_does() -> None:
    assert parse_query("a=1&a=2") == {"a": ["1", "2"]}
    assert parse_query("ids[]=1&ids[]=2") == {"ids": ["1", "2"]}
    assert parse_query("user[name]=john&user[age]=30") == {"user": {"name": "john", "age": "30"}}
    assert parse_query("name=John%20Doe&q=a+b&flag") == {"name": "John Doe", "q": "a b", "flag": ""}


# ---- DDP: the methods' check()s ------------------------------------------------------------


def test_ddp_checks_refuse_what_rocket_chats_check_refuses(server: DevServer) -> None:
    assert check_ddp("sendMessage", [{"rid": "r", "msg": "hi"}]) is None
    assert check_ddp("sendMessage", [{"rid": "r", "msg": "hi", "ts": {"$date": 1}}]) is None
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.login_digest("alice", "alice-dev")
        for bad in (
            [{"rid": "GENERAL", "msg": "x", "attachments": []}],  # not in the pattern
            [{"rid": "GENERAL", "msg": 5}],
            [{"rid": "GENERAL", "msg": "x", "ts": "2026-01-01"}],  # a Date, not a string
            [{"rid": "GENERAL", "msg": "x"}, None, [{"name": "no id"}]],
            ["GENERAL"],
        ):
            err = c.call("sendMessage", *bad)["error"]
            assert err == {
                "isClientSafe": True,
                "error": 400,
                "reason": "Match failed",
                "message": "Match failed [400]",
                "errorType": "Meteor.Error",
            }, bad
        assert c.call("loadHistory", 5, None, 10)["error"]["reason"] == "Match failed"
        assert "error" not in c.call("loadHistory", "GENERAL", None, 10)
        err = c.call("addUsersToRoom", {"rid": 5, "users": ["bob"]})["error"]
        assert (err["error"], err["reason"]) == ("error-invalid-room", "Invalid room")
        assert err["details"] == {"method": "addUsersToRoom"}


def test_ddp_checks_apply_over_method_call_too(server: DevServer) -> None:
    message = {"msg": "method", "id": "1", "method": "loadHistory", "params": [["GENERAL"]]}
    r = requests.post(
        f"{server.url}/api/v1/method.call/loadHistory",
        json={"message": json.dumps(message)},
        headers=auth(server, "alice"),
        timeout=10,
    )
    answer = json.loads(r.json()["message"])
    assert answer["error"]["reason"] == "Match failed"


def test_without_the_export_the_server_is_lenient_unless_strict_is_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.devserver import contracts

    monkeypatch.setenv(contracts.PATH_ENV, str(tmp_path / "missing.json"))
    monkeypatch.delenv(contracts.STRICT_ENV, raising=False)
    monkeypatch.setattr(contracts, "_said_lenient", False)
    seed = {"users": [{"username": "u", "password": "u-dev"}]}
    with caplog.at_level("INFO", logger="omnicat.devserver"):
        assert DevServer(seed).strict is False
        assert DevServer(seed).strict is False
    said = [r.getMessage() for r in caplog.records if "strict mode off" in r.getMessage()]
    assert len(said) == 1 and "missing.json" in said[0]  # once per process
    with pytest.raises(RuntimeError, match=r"tools/contracts\.py"):
        DevServer(seed, strict=True)
    monkeypatch.setenv(contracts.STRICT_ENV, "1")
    with pytest.raises(RuntimeError, match="strict mode needs"):
        DevServer(seed)
