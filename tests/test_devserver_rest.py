"""The real rocketchat_API client (3.7.x) against the dev server, unchanged."""

from __future__ import annotations

import io
import time

import pytest
import requests
from devserver_fixtures import server_fixture  # noqa: F401 - the `server` fixture
from rocketchat_API.APIExceptions.RocketExceptions import (
    RocketApiException,
    RocketAuthenticationException,
)
from rocketchat_API.rocketchat import RocketChat

from bot.devserver import DevServer


def rc(server: DevServer, user: str = "alice") -> RocketChat:
    return RocketChat(user, f"{user}-dev", server_url=server.url)


def test_login_with_password_and_me(server: DevServer) -> None:
    me = rc(server).me()
    assert me["success"] is True
    assert me["username"] == "alice"
    assert me["emails"][0]["address"] == "alice@example.test"
    assert me["utcOffset"] == 1
    assert "livechat-agent" in me["roles"]


def test_login_with_personal_access_token(server: DevServer) -> None:
    uid, token = server.create_personal_access_token("omnicat")
    api = RocketChat(user_id=uid, auth_token=token, server_url=server.url)
    assert api.me()["username"] == "omnicat"


def test_wrong_password_is_401(server: DevServer) -> None:
    with pytest.raises(RocketAuthenticationException):
        RocketChat("alice", "nope", server_url=server.url)
    r = requests.post(f"{server.url}/api/v1/login", json={"user": "alice", "password": "x"})
    assert r.status_code == 401
    assert r.json() == {"success": False, "error": "unauthorized"}


def test_dm_post_and_history(server: DevServer) -> None:
    api = rc(server)
    dm = api.dm_create("omnicat")
    rid = dm["room"]["_id"]
    assert dm["room"]["rid"] == rid and dm["room"]["t"] == "d"
    posted = api.chat_post_message("hello @omnicat", room_id=rid)
    assert isinstance(posted["ts"], int)
    assert posted["channel"] == rid
    assert posted["message"]["ts"].endswith("Z")
    assert posted["message"]["mentions"][0]["username"] == "omnicat"
    api.chat_post_message("second", channel="@omnicat")
    texts = [m["msg"] for m in api.dm_history(rid)]
    assert texts == ["second", "hello @omnicat"]  # newest first


def test_groups_create_invite_history_and_system_messages(server: DevServer) -> None:
    bot = rc(server, "omnicat")
    group = bot.groups_create("case-1", members=["alice"])["group"]
    assert group["t"] == "p" and group["u"]["username"] == "omnicat"
    invited = bot.groups_invite(group["_id"], server.user_id("bob"))
    assert invited["group"]["_id"] == group["_id"]
    bot.chat_post_message("note", room_id=group["_id"])
    bob = rc(server, "bob")
    before_kick = bob.subscriptions_get()["update"]
    since = max(x["_updatedAt"] for x in before_kick)
    time.sleep(0.005)  # `updatedSince` is exclusive at millisecond precision
    bot.groups_kick(group["_id"], server.user_id("bob"))
    removed = bob.subscriptions_get(updatedSince=since)["remove"]
    assert [x["_id"] for x in removed] == [
        x["_id"] for x in before_kick if x["rid"] == group["_id"]
    ]
    history = list(bot.groups_history(group["_id"]))
    assert [(m.get("t"), m["msg"]) for m in history] == [
        ("ru", "bob"),
        (None, "note"),
        ("au", "bob"),
    ]
    assert any(c.name == "groups.invite" and c.user == "omnicat" for c in server.calls)


def test_history_window_and_pagination(server: DevServer) -> None:
    bot = rc(server, "omnicat")
    rid = bot.groups_create("paged")["group"]["_id"]
    stamps = []
    for i in range(5):
        stamps.append(bot.chat_post_message(f"m{i}", room_id=rid)["message"]["ts"])
        time.sleep(0.002)
    msgs = list(bot.groups_history(rid, oldest=stamps[1], latest=stamps[3], inclusive=True))
    assert [m["msg"] for m in msgs] == ["m3", "m2", "m1"]
    excl = list(bot.groups_history(rid, oldest=stamps[1]))
    assert [m["msg"] for m in excl] == ["m4", "m3", "m2"]
    page = bot.call_api_get("groups.history", roomId=rid, count=2, offset=1)
    assert [m["msg"] for m in page["messages"]] == ["m3", "m2"]
    members = bot.call_api_get("groups.members", roomId=rid)
    assert members["total"] == 1 and members["count"] == 1 and members["offset"] == 0


def test_media_upload_confirm_and_download(server: DevServer) -> None:
    api = rc(server)
    rid = api.dm_create("omnicat")["room"]["_id"]
    up = api.rooms_media(rid, ("notes.txt", io.BytesIO(b"hello file"), "text/plain"))
    fid = up["file"]["_id"]
    assert up["file"]["url"] == f"/file-upload/{fid}/notes.txt"
    msg = api.rooms_media_confirm(rid, fid, msg="see attached", description="d")["message"]
    assert msg["file"]["_id"] == fid and msg["files"][0]["name"] == "notes.txt"
    assert msg["attachments"][0]["title_link"] == up["file"]["url"]
    url = server.url + up["file"]["url"]
    assert requests.get(url).status_code == 403
    r = requests.get(url, headers=api.headers)
    assert r.status_code == 200 and r.content == b"hello file"
    uid, token = api.headers["X-User-Id"], api.headers["X-Auth-Token"]
    assert requests.get(url, cookies={"rc_uid": uid, "rc_token": token}).content == b"hello file"
    assert requests.get(f"{url}?rc_uid={uid}&rc_token={token}").status_code == 200
    # carol is not in the DM
    carol = rc(server, "carol")
    assert requests.get(url, headers=carol.headers).status_code == 403
    assert requests.get(url.replace(fid, "nope"), headers=api.headers).status_code == 404
    files = list(api.call_api_get("dm.files", roomId=rid)["files"])
    assert files[0]["_id"] == fid


def test_rooms_upload_is_404_on_8_and_works_on_6(server: DevServer) -> None:
    api = rc(server)
    rid = api.dm_create("omnicat")["room"]["_id"]
    files = {"file": ("a.txt", io.BytesIO(b"x"), "text/plain")}
    with pytest.raises(RocketApiException) as e:
        api.call_api_post(f"rooms.upload/{rid}", files=files)
    assert e.value.status_code == 404
    with DevServer({"users": [{"username": "u", "password": "u-dev"}]}, rc_version="6") as old:
        api6 = RocketChat("u", "u-dev", server_url=old.url)
        rid6 = api6.dm_create("u")["room"]["_id"]
        files = {"file": ("a.txt", io.BytesIO(b"x"), "text/plain")}
        assert (
            api6.call_api_post(f"rooms.upload/{rid6}", files=files)["message"]["file"]["name"]
            == "a.txt"
        )


def test_error_bodies_per_status(server: DevServer) -> None:
    api = rc(server)
    # 400: a Meteor.Error becomes "<reason> [<code>]" with errorType
    with pytest.raises(RocketApiException) as e400:
        api.chat_post_message("x", room_id="does-not-exist")
    assert e400.value.status_code == 400
    assert e400.value.response_json["errorType"] == "error-invalid-channel"
    assert e400.value.response_json["error"].endswith("[error-invalid-channel]")
    # 401: no auth
    r = requests.get(f"{server.url}/api/v1/me")
    assert r.status_code == 401
    assert r.json() == {"success": False, "error": "You must be logged in to do this."}
    # 403: a dev.* hook without the admin role
    with pytest.raises(RocketApiException) as e403:
        api.call_api_get("dev.calls")
    assert e403.value.status_code == 403
    assert e403.value.error.endswith("[error-forbidden]")
    # 404: rooms.upload on 8.x
    with pytest.raises(RocketApiException) as e404:
        api.call_api_post("rooms.upload/x", files={"file": ("a", io.BytesIO(b"a"), "text/plain")})
    assert e404.value.response_json == {"success": False, "error": "Resource not found"}


def test_rate_limit_429_with_headers(server: DevServer) -> None:
    server.set_rate_limits(True, rest_calls=2, rest_window_ms=60_000)
    api = rc(server)
    r = requests.get(f"{server.url}/api/v1/me", headers=api.headers)
    assert r.headers["X-RateLimit-Limit"] == "2" and r.headers["X-RateLimit-Remaining"] == "1"
    requests.get(f"{server.url}/api/v1/me", headers=api.headers)
    r = requests.get(f"{server.url}/api/v1/me", headers=api.headers)
    assert r.status_code == 429
    assert int(r.headers["X-RateLimit-Reset"]) > time.time() * 1000
    assert r.json()["error"].endswith("[error-too-many-requests]")
    # the bot role bypasses (api-bypass-rate-limit) unless the test forces limits on it
    bot = rc(server, "omnicat")
    for _ in range(4):
        bot.me()
    server.set_rate_limits(True, rest_calls=1, exempt_bots=False)
    bot.me()
    with pytest.raises(RocketApiException) as e:
        bot.me()
    assert e.value.status_code == 429


def test_private_group_forbidden_to_outsiders(server: DevServer) -> None:
    bot = rc(server, "omnicat")
    rid = bot.groups_create("secret", members=["alice"])["group"]["_id"]
    bot.chat_post_message("hidden", room_id=rid)
    carol = rc(server, "carol")
    for call in (
        lambda: list(carol.groups_history(rid)),
        lambda: carol.groups_info(room_id=rid),
        lambda: carol.chat_post_message("hi", room_id=rid),
        lambda: carol.rooms_media(rid, ("a.txt", io.BytesIO(b"a"), "text/plain")),
    ):
        with pytest.raises(RocketApiException) as e:
            call()
        assert e.value.status_code in (400, 403)
        assert "hidden" not in e.value.response


def test_archive_topic_readonly_alias_and_attachments(server: DevServer) -> None:
    bot = rc(server, "omnicat")
    rid = bot.groups_create("arch", members=["alice"])["group"]["_id"]
    bot.groups_set_topic(rid, "Case 42")
    assert bot.groups_info(room_id=rid)["group"]["topic"] == "Case 42"
    actions = [{"type": "button", "text": "Take", "msg": "!take 42", "msg_in_chat_window": True}]
    posted = bot.chat_post_message(
        "q", room_id=rid, alias="Queue", attachments=[{"text": "t", "actions": actions}]
    )
    assert posted["message"]["alias"] == "Queue"
    assert posted["message"]["attachments"][0]["actions"] == actions
    alice = rc(server, "alice")
    assert "alias" not in alice.chat_post_message("a", room_id=rid, alias="Fake")["message"]
    bot.groups_archive(rid)
    for who in (bot, alice):
        with pytest.raises(RocketApiException) as e:
            who.chat_post_message("late", room_id=rid)
        assert e.value.error_type == "error-room-archived"
    ro = bot.groups_create("ro", members=["alice"], readOnly=True)["group"]["_id"]
    bot.chat_post_message("owner may", room_id=ro)
    with pytest.raises(RocketApiException):
        alice.chat_post_message("not me", room_id=ro)


def test_update_delete_users_subscriptions_permissions(server: DevServer) -> None:
    api = rc(server)
    rid = api.dm_create("omnicat")["room"]["_id"]
    mid = api.chat_post_message("typo", room_id=rid)["message"]["_id"]
    edited = api.chat_update(rid, mid, "fixed")["message"]
    assert (
        edited["msg"] == "fixed"
        and edited["editedBy"]["username"] == "alice"
        and "editedAt" in edited
    )
    assert api.chat_get_message(msg_id=mid)["message"]["msg"] == "fixed"
    assert [m["_id"] for m in api.chat_search(rid, "fix")] == [mid]
    deleted = api.chat_delete(rid, mid)
    assert deleted["_id"] == mid and deleted["ts"].isdigit()
    info = api.users_info(username="bob")["user"]
    assert info["utcOffset"] == -5 and info["roles"] == ["user", "livechat-agent"]
    assert info["emails"][0]["address"] == "bob@example.test" and info["status"] == "offline"
    api.users_set_status("lunch", status="away")
    assert api.users_get_presence(username="alice")["presence"] == "away"
    subs = api.subscriptions_get()["update"]
    assert any(s["rid"] == rid and s["u"]["username"] == "alice" for s in subs)
    perms = {p["_id"]: p["roles"] for p in api.permissions_list_all()["update"]}
    assert "livechat-agent" in perms["view-l-room"] and perms["transfer-livechat-guest"] == [
        "livechat-manager",
        "livechat-monitor",
        "admin",
        "bot",  # granted by the seed, as README's livechat section tells an admin
    ]
    assert any(r["_id"] == "livechat-agent" for r in api.roles_list()["roles"])
    assert api.rooms_info(room_id="GENERAL")["room"]["name"] == "general"
    assert [u["username"] for u in api.users_list(count=3)][:3] == ["omnicat", "admin", "alice"]


def test_lenient_query_decoding(server: DevServer) -> None:
    api = rc(server, "omnicat")
    rid = api.groups_create("q")["group"]["_id"]
    api.chat_post_message("a&b c+d", room_id=rid)
    # rocketchat_API sends raw `&`: the value is cut like on the real server, but nothing fails
    got = requests.get(
        f"{server.url}/api/v1/groups.history?roomId={rid}&inclusive=True&unreads=False&count=5",
        headers=api.headers,
    ).json()
    assert got["success"] is True and got["messages"][0]["msg"] == "a&b c+d"
