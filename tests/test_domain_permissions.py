"""The permission table, overrides, visibility rules and queue order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import (
    Permissions,
    State,
    Viewer,
    can_access,
    can_see_queued,
    may_act,
    new_conversation,
    ordered,
    position,
)
from bot.domain.permissions import ADMIN, AGENT, MANAGER, MONITOR, UnknownPermission

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
P = Permissions()


@pytest.mark.parametrize(
    ("permission", "agent", "monitor", "manager", "admin"),
    [
        ("view-l-room", True, True, True, True),
        ("view-livechat-manager", False, True, True, True),
        ("view-livechat-rooms", False, True, True, True),
        ("view-livechat-queue", True, True, True, True),
        ("close-livechat-room", True, True, True, True),
        ("close-others-livechat-room", False, True, True, True),
        ("transfer-livechat-guest", False, True, True, True),
        ("on-hold-livechat-room", True, True, True, True),
        ("on-hold-others-livechat-room", False, True, True, True),
        ("save-others-livechat-room-info", False, True, True, True),
        ("view-livechat-room-closed-same-department", False, True, True, True),
        ("view-livechat-room-closed-by-another-agent", False, True, True, True),
        ("send-omnichannel-chat-transcript", False, False, True, True),
        ("request-pdf-transcript", True, True, True, True),
        ("view-livechat-contact", True, True, True, True),
        ("update-livechat-contact", True, True, True, True),
        ("view-livechat-contact-history", True, True, True, True),
        ("manage-livechat-agents", False, True, True, True),
        ("save-canned-responses", True, True, True, True),
        ("save-all-canned-responses", False, False, True, True),
        ("save-department-canned-responses", False, True, False, False),
        ("remove-canned-responses", True, True, True, True),
        ("view-all-canned-responses", False, False, True, True),
    ],
)
def test_default_roles_mirror_rocket_chat(permission, agent, monitor, manager, admin):
    got = tuple(P.has([role], permission) for role in (AGENT, MONITOR, MANAGER, ADMIN))
    assert got == (agent, monitor, manager, admin)
    assert not P.has(["user"], permission)


def test_overrides_replace_a_row_and_unknown_names_are_rejected():
    perms = Permissions({"transfer-livechat-guest": [AGENT, MANAGER]})
    assert perms.has([AGENT], "transfer-livechat-guest")
    assert not perms.has([MONITOR], "transfer-livechat-guest")
    assert not P.has([AGENT], "transfer-livechat-guest")  # the default is untouched
    with pytest.raises(UnknownPermission):
        Permissions({"transfer-livechat-gust": [AGENT]})
    with pytest.raises(UnknownPermission):
        P.has([AGENT], "no-such-permission")
    with pytest.raises(TypeError):
        Permissions({"view-l-room": "livechat-agent"})


def conv(number=1, department="Sales", **changes):
    c, _ = new_conversation(number, "carol", T0, by="carol", department=department)
    from dataclasses import replace

    return replace(c, **changes)


alice = Viewer("alice", frozenset({AGENT}), frozenset({"Sales"}))
sam = Viewer("sam", frozenset({AGENT}), frozenset({"Support"}))
boss = Viewer("boss", frozenset({MANAGER}), frozenset())
guest = Viewer("guest", frozenset({"user"}), frozenset({"Sales"}))


def test_queue_visibility_by_department():
    sales_chat, public_chat = conv(), conv(department=None)
    assert can_see_queued(sales_chat, alice, P)
    assert not can_see_queued(sales_chat, sam, P)
    assert can_see_queued(public_chat, sam, P)
    assert not can_see_queued(sales_chat, guest, P)
    # managers see everything only when they ask for all
    assert not can_see_queued(sales_chat, boss, P)
    assert can_see_queued(sales_chat, boss, P, all_departments=True)
    assert not can_see_queued(sales_chat, sam, P, all_departments=True)
    # a chat waiting for a preferred agent is visible to that agent
    assert can_see_queued(conv(default_agent="sam"), sam, P)


def test_access_to_open_and_closed_conversations():
    serving = conv(state=State.SERVING, agent="alice")
    assert can_access(serving, alice, P)
    assert not can_access(serving, sam, P)
    assert can_access(serving, boss, P)  # view-livechat-rooms
    assert can_access(conv(state=State.SERVING, agent="x", invited=("sam",)), sam, P)
    closed = conv(state=State.CLOSED, agent="bob", previous_agents=("alice",))
    assert can_access(closed, alice, P)  # served it before
    assert not can_access(closed, Viewer("zed", frozenset({AGENT}), frozenset({"Sales"})), P)
    monitor_sales = Viewer("mo", frozenset({MONITOR}), frozenset({"Sales"}))
    assert can_access(closed, monitor_sales, P)
    same_dept_only = Permissions(
        {
            "view-livechat-rooms": [ADMIN],
            "view-livechat-room-closed-by-another-agent": [ADMIN],
            "view-livechat-room-closed-same-department": [AGENT],
        }
    )
    zed = Viewer("zed", frozenset({AGENT}), frozenset({"Sales"}))
    assert can_access(closed, zed, same_dept_only)
    assert not can_access(
        closed, Viewer("zed", frozenset({AGENT}), frozenset({"Support"})), same_dept_only
    )


def test_may_act_on_own_or_others():
    serving = conv(state=State.SERVING, agent="alice")
    assert may_act(serving, alice, P, "close-livechat-room", "close-others-livechat-room")
    assert not may_act(serving, sam, P, "close-livechat-room", "close-others-livechat-room")
    assert may_act(serving, boss, P, "close-livechat-room", "close-others-livechat-room")
    assert not may_act(serving, alice, P, "transfer-livechat-guest")


def test_queue_order_and_position():
    chats = [
        conv(1, queued_at=T0 + timedelta(seconds=30)),
        conv(2, queued_at=T0 + timedelta(seconds=10)),
        conv(3, department="Support", queued_at=T0),
        conv(4, queued_at=T0 + timedelta(seconds=20), priority="high"),
        conv(5, state=State.SERVING, agent="alice"),
    ]
    assert [c.number for c in ordered(chats)] == [3, 2, 4, 1]
    assert [c.number for c in ordered(chats, "priority")] == [4, 3, 2, 1]
    assert position(chats[0], chats) == 3  # within Sales: 2, 4, 1
    assert position(chats[2], chats) == 1
    assert position(chats[4], chats) is None
    assert position(chats[0], chats, "priority") == 3
    assert position(chats[3], chats, "priority") == 1


def test_viewer_for_makes_department_members_agents():
    from bot.domain import viewer_for

    yaml_agent = viewer_for("zed", ["user"], ["Sales"])
    assert P.has(yaml_agent.roles, "view-l-room") and yaml_agent.departments == {"Sales"}
    assert not P.has(viewer_for("joe", ["user"]).roles, "view-l-room")
