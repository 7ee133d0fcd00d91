"""The toolkit's pure pieces: shortcut words, scopes, visibility, placeholders, the trigger."""

from __future__ import annotations

import pytest

from bot.domain import Permissions, Refused, viewer_for
from bot.domain.placeholders import fill
from bot.services.canned import (
    DEPARTMENT,
    GLOBAL,
    TRIGGER,
    USER,
    CannedResponse,
    can_view,
    normalize_shortcut,
    parse_scope,
)

PERMS = Permissions()


def test_shortcut_words() -> None:
    assert normalize_shortcut("!Greet") == "greet"
    assert normalize_shortcut("refund-policy.v2") == "refund-policy.v2"
    for bad in ("!", "", "two words", "bad$", "x" * 65):
        with pytest.raises(Refused):
            normalize_shortcut(bad)


def test_scopes() -> None:
    depts = ["support", "Sales"]
    assert parse_scope(None, depts) == (GLOBAL, None)
    assert parse_scope("user", depts) == (USER, None)
    assert parse_scope("department:sales", depts) == (DEPARTMENT, "Sales")
    with pytest.raises(Refused, match="Did you mean department:support"):
        parse_scope("department:suport", depts)
    with pytest.raises(Refused, match="Unknown scope"):
        parse_scope("team:x", depts)


def test_visibility_table() -> None:
    agent = viewer_for("alice", ["livechat-agent"], ["support"])
    manager = viewer_for("maria", ["livechat-manager"])
    own = CannedResponse("a", "x", USER, owner="alice")
    dept = CannedResponse("b", "x", DEPARTMENT, department="sales")
    assert can_view(CannedResponse("g", "x"), agent, PERMS)
    assert can_view(own, agent, PERMS) and not can_view(own, manager, PERMS)
    assert not can_view(dept, agent, PERMS) and can_view(dept, manager, PERMS)
    assert can_view(CannedResponse("c", "x", DEPARTMENT, department="support"), agent, PERMS)


def test_fill_and_trigger() -> None:
    values = {"contact.name": "Carol", "contact.email": None}
    assert fill("Hi {{ contact.name }} <{{contact.email}}> {{agent.name}}", values) == (
        "Hi Carol <> {{agent.name}}"
    )
    assert TRIGGER.match("!greet").groups() == ("greet", None)
    assert TRIGGER.match("!greet  and more\nlines").groups() == ("greet", "and more\nlines")
    for text in ("! greet", "!!!", "!wow, great", "hello !greet", "!important:"):
        assert TRIGGER.match(text) is None, text
