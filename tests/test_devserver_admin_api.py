"""The dev server's admin API: what a script written for Rocket.Chat uses to set up an
omnichannel desk (users, agents, managers, departments) and to read the queue and the
visitors; each test names the Rocket.Chat file its bodies and error keys come from."""

from __future__ import annotations

import requests
from test_devserver_livechat import Api, bot_available, ok, refused, server_fixture, visitor_room

from bot.devserver import DevServer

__all__ = ["server_fixture"]

FORBIDDEN = {
    "success": False,
    "error": "User does not have the permissions required for this action [error-forbidden]",
}


def test_users_create_and_delete_rc_users_ts(server: DevServer) -> None:
    """RC `api/server/v1/users.ts` users.create (create-user; saveUser's
    `error-field-unavailable` '<name> is already in use :(') and users.delete (delete-user)."""
    admin = Api(server, "admin")
    body = {"email": "Erin@Example.test", "name": "Erin", "password": "pw", "username": "erin"}
    refused(Api(server, "alice").post("users.create", body), 403)
    user = ok(admin.post("users.create", {**body, "roles": ["user", "livechat-agent"]}))["user"]
    assert user["username"] == "erin" and user["roles"] == ["user", "livechat-agent"]
    assert user["emails"] == [{"address": "erin@example.test", "verified": True}]
    assert refused(admin.post("users.create", body)) == {
        "success": False,
        "error": "erin is already in use :( [error-field-unavailable]",
        "errorType": "error-field-unavailable",
        "details": {"method": "insertOrUpdateUser", "field": "erin"},
    }
    assert refused(admin.post("users.create", {**body, "username": "erin2"}))["error"] == (
        "erin@example.test is already in use :( [error-field-unavailable]"
    )
    assert refused(admin.post("users.create", {"username": "x"}))["errorType"] == "invalid-params"
    # the new user logs in, then is deleted: out of its rooms, its token dead
    login = requests.post(
        f"{server.url}/api/v1/login", json={"user": "erin", "password": "pw"}, timeout=10
    )
    token = ok(login)["data"]["authToken"]
    assert refused(Api(server, "alice").post("users.delete", {"username": "erin"}), 403)
    assert ok(admin.post("users.delete", {"userId": user["_id"]})) == {"success": True}
    headers = {"X-User-Id": user["_id"], "X-Auth-Token": token}
    assert requests.get(f"{server.url}/api/v1/me", headers=headers, timeout=10).status_code == 401
    assert refused(admin.post("users.delete", {"username": "erin"}))["errorType"] == (
        "error-invalid-user"
    )


def test_livechat_users_agents_and_managers_rc_livechat_users_ts(server: DevServer) -> None:
    """RC `livechat/imports/server/rest/users.ts`: `livechat/users/:type` GET (paginated
    `users`), POST `{username}` → `{user}`; `:type/:_id` GET → `{user}` or `{user: null}`,
    DELETE → `{}`; another type is `Invalid type`."""
    admin, maria = Api(server, "admin"), Api(server, "maria")
    agents = ok(admin.get("livechat/users/agent"))
    assert {u["username"] for u in agents["users"]} == {"omnicat", "alice", "bob"}
    assert agents["total"] == 3 and agents["offset"] == 0
    refused(Api(server, "carol").get("livechat/users/agent"), 403)
    added = ok(maria.post("livechat/users/agent", {"username": "carol"}))["user"]
    assert added["username"] == "carol" and added["statusLivechat"] == "available"
    carol = server.user_id("carol")
    assert ok(maria.get(f"livechat/users/agent/{carol}"))["user"]["_id"] == carol
    assert ok(maria.get(f"livechat/users/manager/{carol}")) == {"user": None, "success": True}
    assert refused(maria.get("livechat/users/robot")) == {"success": False, "error": "Invalid type"}
    ok(admin.post("livechat/users/manager", {"username": "carol"}))
    assert "carol" in {u["username"] for u in ok(admin.get("livechat/users/manager"))["users"]}
    gone = requests.delete(
        f"{admin.base}livechat/users/agent/{carol}", headers=maria.headers, timeout=10
    )
    assert ok(gone) == {"success": True}
    assert ok(maria.get(f"livechat/users/agent/{carol}")) == {"user": None, "success": True}


def test_department_create_read_update_delete_rc_departments_ts(server: DevServer) -> None:
    """RC `livechat/imports/server/rest/departments.ts`: POST `{department, agents}` →
    `{department, agents}`; GET/PUT/DELETE `livechat/department/:_id`."""
    maria = Api(server, "maria")
    bob = server.user_id("bob")
    body = {
        "department": {
            "enabled": True,
            "name": "Billing",
            "email": "billing@example.test",
            "showOnRegistration": True,
            "showOnOfflineForm": False,
        },
        "agents": [{"agentId": bob, "count": 0, "order": 0}],
    }
    refused(Api(server, "bob").post("livechat/department", body), 403)
    created = ok(maria.post("livechat/department", body))
    dep = created["department"]
    assert dep["name"] == "Billing" and dep["showOnOfflineForm"] is False
    assert [a["agentId"] for a in created["agents"]] == [bob]
    assert refused(maria.post("livechat/department", body))["errorType"] == (
        "error-duplicated-department-name"
    )
    assert (
        refused(maria.post("livechat/department", {"department": {"name": "x"}}))["errorType"]
        == "invalid-params"
    )
    got = ok(Api(server, "bob").get(f"livechat/department/{dep['_id']}"))
    assert got["department"]["_id"] == dep["_id"] and got["agents"][0]["username"] == "bob"
    update = {**body, "department": {**body["department"], "enabled": False}, "agents": []}
    url = f"{maria.base}livechat/department/{dep['_id']}"
    changed = ok(requests.put(url, json=update, headers=maria.headers, timeout=10))
    assert changed["department"]["enabled"] is False and changed["agents"] == []
    assert ok(requests.delete(url, headers=maria.headers, timeout=10)) == {"success": True}
    assert refused(requests.delete(url, headers=maria.headers, timeout=10)) == {
        "success": False,
        "error": "Department not found [department-not-found]",
        "errorType": "department-not-found",
        "details": {"method": "livechat:removeDepartment"},
    }
    assert ok(maria.get(f"livechat/department/{dep['_id']}")) == {
        "department": None,
        "success": True,
    }


def test_inquiries_list_queued_get_one_take_rc_inquiries_ts(server: DevServer) -> None:
    """RC `livechat/imports/server/rest/inquiries.ts` and `methods/takeInquiry.ts`:
    `inquiries.list` (view-livechat-manager), `queuedForUser` (own departments and the public
    queue), `getOne` (roomId required), `take` (`error-inquiry-taken`)."""
    server.set_setting("Livechat_Routing_Method", "Manual_Selection")
    server.set_setting("Livechat_assign_new_conversation_to_bot", False)
    server.set_presence("bob", "online")
    server.set_presence("alice", "online")
    _, support = visitor_room(server, name="Vera", department="dep-support")
    _, sales = visitor_room(server, name="Sam", department="dep-sales")
    listed = ok(Api(server, "maria").get("livechat/inquiries.list"))
    assert {i["rid"] for i in listed["inquiries"]} == {support["_id"], sales["_id"]}
    assert set(listed["inquiries"][0]) == {"_id", "rid", "name", "ts", "status", "department"}
    refused(Api(server, "bob").get("livechat/inquiries.list"), 403)
    bob = Api(server, "bob")
    mine = ok(bob.get("livechat/inquiries.queuedForUser"))
    assert [i["rid"] for i in mine["inquiries"]] == [support["_id"]] and mine["total"] == 1
    # RC 8.x registers getOne with validateParams: isGETLivechatInquiriesGetOneParams, which
    # refuses a call without roomId; the handler's own "The 'roomId' param is required" (RC before
    # that validator) is what only a lenient dev server answers.
    assert refused(bob.get("livechat/inquiries.getOne")) == (
        {
            "success": False,
            "error": "must have required property 'roomId' [invalid-params]",
            "errorType": "invalid-params",
        }
        if server.strict
        else {"success": False, "error": "The 'roomId' param is required"}
    )
    inquiry = ok(bob.get("livechat/inquiries.getOne", roomId=support["_id"]))["inquiry"]
    taken = ok(bob.post("livechat/inquiries.take", {"inquiryId": inquiry["_id"]}))["inquiry"]
    assert taken["status"] == "taken"
    assert server.room(support["_id"])["servedBy"]["username"] == "bob"
    assert refused(bob.post("livechat/inquiries.take", {"inquiryId": inquiry["_id"]})) == {
        "success": False,
        "error": "Inquiry already taken [error-inquiry-taken]",
        "errorType": "error-inquiry-taken",
        "details": {"method": "livechat:takeInquiry"},
    }
    assert refused(bob.post("livechat/inquiries.take", {"inquiryId": "nope"}))["errorType"] == (
        "error-not-found"
    )
    # removed in 7.0: 8.x knows no such route
    assert refused(bob.get("livechat/inquiries.queued"), 404) == {
        "success": False,
        "error": "Resource not found",
    }


def test_visitors_search_history_and_contact_search_rc_visitors_ts(server: DevServer) -> None:
    """RC `livechat/imports/server/rest/visitors.ts` (`visitors.search` → `visitors`,
    `visitors.chatHistory/room/:roomId/visitor/:visitorId` → `history`) and `api/v1/contact.ts`
    `omnichannel/contact.search` → `{contact}` (null when none)."""
    bot_available(server)
    token, room = visitor_room(server, name="Vera Visitor", email="vera@example.test")
    visitor_room(server, name="Otto")
    admin = Api(server, "admin")
    found = ok(admin.get("livechat/visitors.search", term="vera"))
    assert [v["token"] for v in found["visitors"]] == [token] and found["total"] == 1
    vid = room["v"]["_id"]
    history = ok(admin.get(f"livechat/visitors.chatHistory/room/{room['_id']}/visitor/{vid}"))
    assert [r["_id"] for r in history["history"]] == [room["_id"]]
    contact = ok(admin.get("omnichannel/contact.search", email="vera@example.test"))["contact"]
    assert contact["token"] == token
    assert ok(admin.get("omnichannel/contact.search", email="no@example.test")) == {
        "contact": None,
        "success": True,
    }
    refused(Api(server, "carol").get("livechat/visitors.search", term="vera"), 403)


def test_statistics_needs_view_statistics_rc_stats_ts(server: DevServer) -> None:
    """RC `api/server/v1/stats.ts` `statistics` (view-statistics): the statistics object."""
    stats = ok(Api(server, "admin").get("statistics"))
    assert stats["version"] == "8.5.0" and stats["totalUsers"] == len(server.state.users)
    assert stats["totalChannels"] == 2 and stats["livechatEnabled"] is True
    assert refused(Api(server, "alice").get("statistics"), 403) == FORBIDDEN
