"""General REST and DDP of the dev server against Rocket.Chat 8.x: the router's not-found, the
exact JSON header, room lists, `dm.messages` by username, `{update, remove}` since a date,
and the DDP methods clients read roles, permissions and public settings with. Each test names
the Rocket.Chat file (or end-to-end API test) its facts come from."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import requests
from ddp_client import DDPTestClient
from test_devserver_livechat import Api, ok, refused, server_fixture

from bot.devserver import DevServer

__all__ = ["server_fixture"]

NOT_FOUND = {"success": False, "error": "Resource not found"}


def test_json_header_is_exactly_application_json_rc_end_to_end_api(server: DevServer) -> None:
    """RC's own API tests compare `Content-Type` with `application/json` exactly."""
    for r in (
        Api(server, "alice").get("me"),
        Api(server).get("me"),  # 401
        Api(server, "alice").get("no.such.thing"),  # 404
        requests.get(f"{server.url}/api/info", timeout=10),
    ):
        assert r.headers["Content-Type"] == "application/json", r.url


def test_unknown_paths_are_404_before_login_rc_api_class(server: DevServer) -> None:
    """RC `ApiClass.ts`: an unknown route is the router's 404 whoever asks; a known one still
    wants its login (401)."""
    anon = Api(server)
    assert refused(anon.get("no.such.thing"), 404) == NOT_FOUND
    assert refused(anon.get("livechat/no.such.thing"), 404) == NOT_FOUND
    assert refused(anon.post("users.info"), 404) == NOT_FOUND  # a known path, another method
    assert refused(anon.get("users.info", username="alice"), 401) == {
        "success": False,
        "error": "You must be logged in to do this.",
    }


def test_api_info_reports_a_released_8x_rc_misc_ts(server: DevServer) -> None:
    assert requests.get(f"{server.url}/api/info", timeout=10).json() == {
        "version": "8.5.0",
        "success": True,
    }
    with DevServer({"users": [{"username": "u", "password": "u-dev"}]}, rc_version="7.10") as old:
        assert requests.get(f"{old.url}/api/info", timeout=10).json()["version"] == "7.10.0"


def test_room_lists_by_type_rc_channels_groups_im_ts(server: DevServer) -> None:
    """RC `v1/channels.ts` channels.list / channels.list.joined, `v1/groups.ts` groups.list,
    `v1/im.ts` im.list (alias dm.list): paginated `channels` / `groups` / `ims`."""
    alice = Api(server, "alice")
    listed = ok(alice.get("channels.list"))
    assert [c["name"] for c in listed["channels"]] == ["general", "support-intake"]
    assert (listed["count"], listed["offset"], listed["total"]) == (2, 0, 2)
    assert [
        c["name"] for c in ok(Api(server, "carol").get("channels.list.joined"))["channels"]
    ] == ["general"]
    ok(alice.post("groups.create", {"name": "secret", "members": ["bob"]}))
    assert [g["name"] for g in ok(alice.get("groups.list"))["groups"]] == ["secret"]
    assert ok(Api(server, "carol").get("groups.list"))["groups"] == []
    ok(alice.post("dm.create", {"username": "bob"}))
    for path in ("im.list", "dm.list"):
        ims = ok(alice.get(path))
        assert [d["usernames"] for d in ims["ims"]] == [["alice", "bob"]] and ims["total"] == 1


def test_dm_messages_by_username_rc_im_ts(server: DevServer) -> None:
    """RC `v1/im.ts` dm.messages: `roomId` or `username` (findDirectMessageRoom)."""
    alice = Api(server, "alice")
    rid = ok(alice.post("dm.create", {"username": "bob"}))["room"]["_id"]
    ok(alice.post("chat.postMessage", {"roomId": rid, "text": "hello bob"}))
    by_name = ok(alice.get("dm.messages", username="bob"))
    assert [m["msg"] for m in by_name["messages"]] == ["hello bob"]
    assert ok(alice.get("dm.messages", roomId=rid))["messages"] == by_name["messages"]
    assert refused(alice.get("dm.messages", username="nobody"))["errorType"] == (
        "error-room-not-found"
    )
    # RC 8.x registers dm.messages with validateParams: isDmMessagesProps (roomId or username,
    # a oneOf), so the router refuses a call with neither before findDirectMessageRoom's own
    # error-room-param-not-provided, which only a lenient dev server reaches.
    neither = refused(alice.get("dm.messages"))
    if server.strict:
        assert neither == {
            "success": False,
            "error": "must have required property 'roomId'\n must have required property "
            "'username'\n must match exactly one schema in oneOf [invalid-params]",
            "errorType": "invalid-params",
        }
    else:
        assert neither == {
            "success": False,
            "error": 'Query param "roomId" or "username" is required '
            "[error-room-param-not-provided]",
            "errorType": "error-room-param-not-provided",
        }


def test_subscriptions_since_a_date_are_update_and_remove_rc_subscriptions_ts(
    server: DevServer,
) -> None:
    """RC `v1/subscriptions.ts` subscriptions.get `updatedSince` and the DDP
    `subscriptions/get` with a `{$date}`: `{update, remove}`; without a date DDP gives the list."""
    alice = Api(server, "alice")
    time.sleep(0.05)  # the seed's subscriptions are older than `before`, to the millisecond
    before = datetime.now(UTC)
    time.sleep(0.05)
    group = ok(alice.post("groups.create", {"name": "shortlived", "members": ["bob"]}))["group"]
    ok(Api(server, "bob").post("groups.leave", {"roomId": group["_id"]}))
    since = before.isoformat().replace("+00:00", "Z")
    rest = ok(Api(server, "bob").get("subscriptions.get", updatedSince=since))
    assert rest["update"] == [] or all(s["rid"] != group["_id"] for s in rest["update"])
    assert [g["_id"] for g in rest["remove"]] and all("_deletedAt" in g for g in rest["remove"])
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.login_password("alice", "alice-dev")
        plain = c.result("subscriptions/get")
        assert isinstance(plain, list) and any(s["rid"] == group["_id"] for s in plain)
        changed = c.result("subscriptions/get", {"$date": int(before.timestamp() * 1000)})
        assert set(changed) == {"update", "remove"}
        assert [s["rid"] for s in changed["update"]] == [group["_id"]]


def test_roles_permissions_and_public_settings_over_ddp_rc_methods(server: DevServer) -> None:
    """RC `server/methods/getUserRoles.ts` (users holding a public role), `getRoomRoles.ts`
    (owners/moderators/leaders of a room), `permissions/get` and `public-settings/get` (a list,
    or `{update, remove}` since a date; the settings need no login)."""
    alice = Api(server, "alice")
    group = ok(alice.post("groups.create", {"name": "team", "members": ["bob"]}))["group"]
    with DDPTestClient(server.ws_url).connect("1") as anon:
        public = anon.result("public-settings/get")
        ids = {s["_id"] for s in public}
        assert "Livechat_title" in ids and "Livechat_assign_new_conversation_to_bot" not in ids
        assert set(anon.result("public-settings/get", {"$date": 0})) == {"update", "remove"}
        assert anon.call("getUserRoles")["error"]["error"] == "error-invalid-user"
    with DDPTestClient(server.ws_url).connect("1") as c:
        c.login_password("alice", "alice-dev")
        roles = {u["username"]: u["roles"] for u in c.result("getUserRoles")}
        assert roles["admin"] == ["admin"] and roles["maria"] == ["livechat-manager"]
        assert "carol" not in roles  # only the role "user": nothing public to show
        room_roles = c.result("getRoomRoles", group["_id"])
        assert [(r["u"]["username"], r["roles"]) for r in room_roles] == [("alice", ["owner"])]
        perms = c.result("permissions/get")
        view_l_room = next(p for p in perms if p["_id"] == "view-l-room")
        assert set(view_l_room) == {"_id", "roles", "_updatedAt"}
        assert "livechat-agent" in view_l_room["roles"]
        future = int((datetime.now(UTC) + timedelta(hours=1)).timestamp() * 1000)
        assert c.result("permissions/get", {"$date": future}) == {"update": [], "remove": []}
    with DDPTestClient(server.ws_url).connect("1") as carol:
        carol.login_password("carol", "carol-dev")
        assert carol.call("getRoomRoles", group["_id"])["error"]["error"] == "error-not-allowed"
