"""Unit tests of the REST adapter against mocked HTTP (`responses`)."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from bot.chat.errors import (
    AuthenticationFailed,
    NotAllowed,
    NotFound,
    RateLimited,
    ServerError,
)
from bot.rocketchat.rest import RestClient

URL = "http://rc.test"
API = URL + "/api/v1/"

ME = {"_id": "bot1", "username": "bot", "name": "Bot", "roles": ["bot"], "success": True}
MSG = {
    "_id": "m1",
    "rid": "r1",
    "msg": "hi",
    "ts": "2026-01-01T10:00:00.000Z",
    "u": {"_id": "bot1", "username": "bot"},
}


def login_ok(rsps: responses.RequestsMock, token: str = "tok1") -> None:
    rsps.post(
        API + "login",
        json={"status": "success", "data": {"userId": "bot1", "authToken": token}},
    )


def pat_client(**kw: object) -> RestClient:
    sleeps: list[float] = []
    client = RestClient(URL, user_id="bot1", token="pat", sleep=sleeps.append, **kw)  # type: ignore[arg-type]
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"success": False, "error": "bad [invalid-params]", "errorType": "invalid-params"},
            ServerError,
        ),
        (400, {"success": False, "error": "x", "errorType": "error-room-not-found"}, NotFound),
        (
            400,
            {"success": False, "error": "Not allowed", "errorType": "error-not-allowed"},
            NotAllowed,
        ),
        (
            401,
            {"success": False, "error": "You must be logged in to do this."},
            AuthenticationFailed,
        ),
        (403, {"success": False, "error": "forbidden"}, NotAllowed),
        (404, {"success": False, "error": "Resource not found"}, NotFound),
        (500, {"success": False, "error": "Internal server error"}, ServerError),
        (502, "<html>bad gateway</html>", ServerError),
    ],
)
@responses.activate
def test_error_mapping(status: int, body: object, expected: type) -> None:
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    responses.post(API + "chat.postMessage", status=status, **kwargs)
    client = pat_client()
    with pytest.raises(expected):
        client.post_message("r1", "hi")


@responses.activate
def test_401_logs_in_again_once_and_retries() -> None:
    login_ok(responses, "tok1")
    responses.get(API + "me", json=ME)
    client = RestClient(URL, username="bot", password="pw", sleep=lambda s: None)
    assert client.login().username == "bot"
    assert client.token == "tok1"
    # The token expires: first call 401, a fresh login, then the retry succeeds.
    responses.post(API + "chat.postMessage", status=401, json={"success": False, "error": "x"})
    login_ok(responses, "tok2")
    responses.post(
        API + "chat.postMessage", json={"ts": 1, "channel": "r1", "message": MSG, "success": True}
    )
    message = client.post_message("r1", "hi")
    assert message.id == "m1"
    assert client.token == "tok2"
    assert responses.calls[-1].request.headers["X-Auth-Token"] == "tok2"


@responses.activate
def test_401_twice_raises_authentication_failed() -> None:
    login_ok(responses)
    responses.get(API + "me", json=ME)
    client = RestClient(URL, username="bot", password="pw", sleep=lambda s: None)
    client.login()
    responses.post(API + "chat.postMessage", status=401, json={"success": False, "error": "x"})
    with pytest.raises(AuthenticationFailed):
        client.post_message("r1", "hi")
    posts = [c for c in responses.calls if c.request.url.endswith("chat.postMessage")]
    assert len(posts) == 2


@responses.activate
def test_401_with_pat_raises_without_login() -> None:
    responses.post(API + "chat.postMessage", status=401, json={"success": False, "error": "x"})
    client = pat_client()
    with pytest.raises(AuthenticationFailed):
        client.post_message("r1", "hi")
    assert not [c for c in responses.calls if c.request.url.endswith("/login")]


@responses.activate
def test_bad_password_is_authentication_failed() -> None:
    responses.post(API + "login", status=401, json={"success": False, "error": "unauthorized"})
    client = RestClient(URL, username="bot", password="nope")
    with pytest.raises(AuthenticationFailed):
        client.login()


@responses.activate
def test_429_waits_until_reset_header_and_retries() -> None:
    reset_ms = int((time.time() + 2.0) * 1000)
    body = {"success": False, "error": "Error, too many requests. [error-too-many-requests]"}
    responses.post(
        API + "chat.postMessage",
        status=429,
        json=body,
        headers={"X-RateLimit-Reset": str(reset_ms), "X-RateLimit-Remaining": "0"},
    )
    responses.post(
        API + "chat.postMessage", json={"ts": 1, "channel": "r1", "message": MSG, "success": True}
    )
    client = pat_client()
    assert client.post_message("r1", "hi").id == "m1"
    assert len(client.sleeps) == 1  # type: ignore[attr-defined]
    assert 0.5 < client.sleeps[0] <= 2.1  # type: ignore[attr-defined]


@responses.activate
def test_429_parses_wait_seconds_without_header() -> None:
    body = {
        "success": False,
        "error": "Error, too many requests. Please slow down. You must wait 7 seconds before "
        "trying this endpoint again. [error-too-many-requests]",
    }
    responses.get(API + "users.getPresence", status=429, json=body)
    responses.get(API + "users.getPresence", json={"presence": "away", "success": True})
    client = pat_client()
    assert client.presence("u1") == "away"
    assert client.sleeps == [7.05]  # type: ignore[attr-defined]


@responses.activate
def test_429_gives_up_after_bounded_attempts() -> None:
    body = {"success": False, "error": "wait 1 seconds [error-too-many-requests]"}
    responses.get(API + "users.getPresence", status=429, json=body)
    client = pat_client(max_attempts=3)
    with pytest.raises(RateLimited) as info:
        client.presence("u1")
    assert info.value.retry_after == pytest.approx(1.05)
    assert len(responses.calls) == 3
    assert len(client.sleeps) == 2  # type: ignore[attr-defined]


@responses.activate
def test_get_values_are_url_encoded() -> None:
    responses.get(
        API + "users.info", json={"user": {"_id": "u9", "username": "a&b#c+d"}, "success": True}
    )
    client = pat_client()
    user = client.user_info(username="a&b#c+d e")
    assert user is not None and user.id == "u9"
    query = urlsplit(responses.calls[0].request.url).query
    assert "%26" in query and "%23" in query and "%2B" in query
    assert parse_qs(query) == {"username": ["a&b#c+d e"]}


@responses.activate
def test_history_encodes_dates_and_returns_oldest_first_across_pages() -> None:
    def page(offset: int, count: int) -> dict[str, object]:
        # The server answers newest first; 5 messages in total.
        all_msgs = [
            dict(MSG, _id=f"m{i}", ts=f"2026-01-01T10:00:0{i}.000Z") for i in range(5, 0, -1)
        ]
        return {"messages": all_msgs[offset : offset + count], "success": True}

    def callback(request):  # type: ignore[no-untyped-def]
        q = parse_qs(urlsplit(request.url).query)
        return (200, {}, json.dumps(page(int(q["offset"][0]), int(q["count"][0]))))

    responses.add_callback(responses.GET, API + "groups.history", callback=callback)
    client = pat_client()
    from datetime import UTC, datetime

    oldest = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    messages = client.history("r1", "p", oldest=oldest, count=2)
    assert [m.id for m in messages] == ["m1", "m2", "m3", "m4", "m5"]
    first = parse_qs(urlsplit(responses.calls[0].request.url).query)
    assert first["oldest"] == ["2026-01-01T09:00:00.000Z"]
    assert first["inclusive"] == ["true"]
    assert len(responses.calls) == 3


@responses.activate
def test_upload_uses_media_and_confirm() -> None:
    responses.post(
        API + "rooms.media/r1",
        json={"file": {"_id": "f1", "url": "/file-upload/f1/a.txt"}, "success": True},
    )
    responses.post(
        API + "rooms.mediaConfirm/r1/f1",
        json={"message": dict(MSG, file={"_id": "f1", "name": "a.txt"}), "success": True},
        match=[matchers.json_params_matcher({"msg": "here"})],
    )
    client = pat_client()
    message = client.upload("r1", b"hello", "a.txt", "text/plain", message="here")
    assert message.files[0].id == "f1"
    assert b"hello" in responses.calls[0].request.body


@responses.activate
def test_upload_falls_back_to_rooms_upload_on_404() -> None:
    responses.post(API + "rooms.media/r1", status=404, body="Not Found")
    responses.post(
        API + "rooms.upload/r1", json={"message": dict(MSG, msg="here"), "success": True}
    )
    client = pat_client()
    message = client.upload("r1", b"payload-bytes", "a.txt", "text/plain", message="here")
    assert message.text == "here"
    body = responses.calls[1].request.body
    assert b"payload-bytes" in body and b'name="msg"' in body


@responses.activate
def test_download_sends_auth_headers_and_returns_bytes() -> None:
    responses.get(URL + "/file-upload/f1/a.txt", body=b"\x00\x01data")
    client = pat_client()
    assert client.download("/file-upload/f1/a.txt") == b"\x00\x01data"
    assert responses.calls[0].request.headers["X-Auth-Token"] == "pat"
    assert responses.calls[0].request.headers["X-User-Id"] == "bot1"


@responses.activate
def test_download_404_is_not_found() -> None:
    responses.get(URL + "/file-upload/missing", status=404, body="nope")
    with pytest.raises(NotFound):
        pat_client().download(URL + "/file-upload/missing")


@responses.activate
def test_models_not_dicts_and_garbage_items_dropped() -> None:
    responses.get(
        API + "subscriptions.get",
        json={
            "update": [{"_id": "s1", "rid": "r1", "t": "p"}, {"junk": 1}],
            "remove": [],
            "success": True,
        },
    )
    subs = pat_client().subscriptions()
    assert [s.rid for s in subs] == ["r1"]


@responses.activate
def test_history_keeps_server_order_for_equal_timestamps() -> None:
    same = [dict(MSG, _id=f"m{i}") for i in (3, 2, 1)]  # newest first, one millisecond
    responses.get(API + "dm.history", json={"messages": same, "success": True})
    messages = pat_client().history("r1", "d", count=10)
    assert [m.id for m in messages] == ["m1", "m2", "m3"]
