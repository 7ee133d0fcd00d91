"""Canned responses through the dispatcher: scopes, uniqueness, permissions, placeholders, the
unknown-shortcut reply, and YAML + chat sources together."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_toolkit_desk import Desk

CANNED = [
    {"shortcut": "greet", "text": "Hello {{contact.name}}, I'm {{agent.name}}. How can I help?"},
    {"shortcut": "refund-policy", "text": "Refunds take 5 days.", "scope": "department:sales"},
]


@pytest.fixture
def yaml_desk(tmp_path: Path):
    departments = {"support": {"agents": ["alice", "bob", "mona"]}, "sales": {"agents": ["carl"]}}
    d = Desk(tmp_path, {"canned": CANNED, "departments": departments})
    yield d
    d.close()


def posts(desk: Desk, rid: str):
    return [e for e in desk.chat.effects if e.kind == "post" and e.rid == rid]


def test_expansion_in_a_conversation_room(yaml_desk: Desk) -> None:
    d = yaml_desk
    d.wf.repo.update_contact("carol", email="carol@example.com", phone="+1 555 0100")
    conv = d.serving("carol", "alice")
    rid = conv.rid
    assert rid
    msg = d.post("alice", rid, "!greet see you soon")
    sent = posts(d, rid)[-1]
    assert sent.text == ("Hello Carol Contact, I'm Alice Agent. How can I help? see you soon")
    assert sent.data["alias"] == "Alice Agent (canned)"
    deleted = [e for e in d.chat.effects if e.kind == "delete"]
    assert deleted and deleted[-1].data["msg_id"] == msg.id
    # stored as alice's message, so search and history show who said it
    stored = d.wf.messages.for_room(rid)
    assert any(m.author_username == "alice" and m.text.startswith("Hello Carol") for m in stored)
    # the agent's "!greet" counted as a reply for the metrics
    assert d.conv(conv.number).metrics.response_count == 1


def test_all_placeholders(tmp_path: Path) -> None:
    text = (
        "{{contact.name}}|{{contact.email}}|{{contact.phone}}|{{agent.name}}|{{agent.email}}|"
        "{{department}}|{{conversation.number}}"
    )  # an unknown {{…}} is refused by the config (test_config_mistakes.py)
    d = Desk(tmp_path, {"canned": [{"shortcut": "all", "text": text}]})
    try:
        d.chat.users["alice"] = d.chat.users["alice"].__class__(
            id="u-alice",
            username="alice",
            name="Alice Agent",
            roles=("user", "livechat-agent"),
            emails=("alice@example.test",),
        )
        d.wf.repo.update_contact("carol", email="carol@example.com", phone="+1 555 0100")
        conv = d.serving("carol", "alice")
        d.post("alice", conv.rid, "!all")
        assert posts(d, conv.rid)[-1].text == (
            f"Carol Contact|carol@example.com|+1 555 0100|Alice Agent|alice@example.test|"
            f"support|{conv.number}"
        )
        # outside conversations only the agent's placeholders are filled
        d.post("alice", "general", "!all")
        assert posts(d, "general")[-1].text == (
            "{{contact.name}}|{{contact.email}}|{{contact.phone}}|Alice Agent|"
            "alice@example.test|{{department}}|{{conversation.number}}"
        )
    finally:
        d.close()


def test_unknown_shortcut_gets_a_private_reply_with_the_closest(yaml_desk: Desk) -> None:
    d = yaml_desk
    conv = d.serving("carol", "alice")
    before = len(d.chat.sent(conv.rid))
    d.post("alice", conv.rid, "!gret")
    assert len(d.chat.sent(conv.rid)) == before  # nothing in the contact's room
    assert d.dms_to("alice")[-1] == (
        "There is no canned response !gret. Did you mean !greet? "
        "Type /canned to see the ones you can use."
    )
    # a department response alice cannot see is neither expanded nor suggested
    d.post("alice", conv.rid, "!refund-policy")
    assert d.dms_to("alice")[-1].startswith("There is no canned response !refund-policy.")
    assert "Did you mean" not in d.dms_to("alice")[-1]


def test_contacts_bang_is_just_text(yaml_desk: Desk) -> None:
    d = yaml_desk
    conv = d.serving("carol", "alice")
    before = len(d.chat.effects)
    d.post("carol", conv.rid, "!greet")
    assert not [e for e in d.chat.effects[before:] if e.kind in ("post", "dm", "delete")]


def test_unknown_placeholder_is_refused_when_saving(yaml_desk: Desk) -> None:
    d = yaml_desk
    assert d.dm("alice", "/canned add !bye scope=user Bye {{contact.nosuch}}") == (
        "Unknown placeholder {{contact.nosuch}}; the known ones are {{contact.name}}, "
        "{{contact.email}}, {{contact.phone}}, {{agent.name}}, {{agent.email}}, {{department}}, "
        "{{conversation.number}}."
    )
    assert d.dm("alice", "/canned add !bye scope=user Bye {{ Contact.Name }}").startswith(
        "Saved !bye"
    )


def test_scopes_visibility(yaml_desk: Desk) -> None:
    d = yaml_desk
    assert d.dm("alice", "/canned add !mine scope=user My own text") == (
        "Saved !mine (scope user: only you can use it). Type !mine to use it."
    )
    assert d.dm("mona", "/canned add !sup scope=department:support Support hello").startswith(
        "Saved !sup (department support"
    )
    alice = d.dm("alice", "/canned")
    assert "*Global*\n!greet — Hello {{contact.name}}" in alice
    assert "*Department support*\n!sup — Support hello" in alice
    assert "*Yours*\n!mine — My own text" in alice
    assert "refund-policy" not in alice
    bob = d.dm("bob", "/canned")
    assert "!sup" in bob and "!mine" not in bob and "refund-policy" not in bob
    carl = d.dm("carl", "/canned")
    assert "!refund-policy" in carl and "!sup" not in carl
    maria = d.dm("maria", "/canned")  # view-all-canned-responses: every department
    assert "!refund-policy" in maria and "!sup" in maria and "!mine" not in maria
    assert d.dm("alice", "/canned refund") == "No canned responses match 'refund'."
    # bob can't use alice's private one
    d.post("bob", "general", "!mine")
    assert d.dms_to("bob")[-1].startswith("There is no canned response !mine.")
    d.post("alice", "general", "!mine")
    assert posts(d, "general")[-1].text == "My own text"


def test_uniqueness_across_scopes_and_sources(yaml_desk: Desk) -> None:
    d = yaml_desk
    assert d.dm("alice", "/canned add !greet scope=user hi") == (
        "The shortcut !greet already exists; pick another one or /canned edit it."
    )
    d.dm("alice", "/canned add !mine scope=user mine")
    assert d.dm("bob", "/canned add !MINE scope=user bob's").startswith(
        "The shortcut !mine already exists"
    )
    assert d.dm("alice", "/canned edit !greet new").startswith(
        "!greet is defined in the configuration file"
    )


def test_save_permissions(yaml_desk: Desk) -> None:
    d = yaml_desk
    assert d.dm("alice", "/canned add !g scope=global hi").startswith(
        "Only managers (save-all-canned-responses) may save global canned responses"
    )
    assert d.dm("alice", "/canned add !d scope=department:support hi").startswith(
        "You don't have permission to save department canned responses"
    )
    # an agent's default scope is user; a manager's is global
    assert "(scope user" in d.dm("alice", "/canned add !a1 first")
    assert "(global" in d.dm("maria", "/canned add !m1 for all")
    assert d.dm("mona", "/canned add !g2 scope=global x").startswith("Only managers")
    # a monitor saves department responses for their own departments only
    assert d.dm("mona", "/canned add !s1 scope=department:sales x") == (
        "You can save canned responses only for your own departments, not sales."
    )
    assert d.dm("maria", "/canned add !s1 scope=department:sales x").startswith("Saved !s1")
    assert d.dm("mona", "/canned remove !s1") == "There is no canned response !s1."
    assert d.dm("alice", "/canned add !long " + "x" * 4001) == (
        "The canned response is longer than 4000 characters."
    )
    assert d.dm("carol", "/canned") == "You don't have permission to use /canned."
    # edit / remove: own ones, or with the scope's save permission
    assert d.dm("bob", "/canned remove !a1") == "There is no canned response !a1."
    assert d.dm("alice", "/canned remove !m1") == "You may not remove !m1."
    assert d.dm("alice", "/canned edit !a1 scope=global x").startswith("Only managers")
    assert d.dm("alice", '/canned edit !a1 "Quoted text, kept"') == (
        "Updated !a1 (scope user: only you can use it)."
    )
    assert "!a1 — Quoted text, kept" in d.dm("alice", "/canned a1")
    assert d.dm("alice", "/canned remove !a1") == "Removed !a1."
    assert d.dm("maria", "/canned remove !m1") == "Removed !m1."
    assert d.dm("alice", "/canned add !bad$ x").startswith("'!bad$' is not a shortcut")


def test_from_last_and_multiline(yaml_desk: Desk) -> None:
    d = yaml_desk
    conv = d.serving("carol", "alice")
    d.post("alice", conv.rid, "Line one\nline two")
    assert d.cmd("alice", conv.rid, "/canned add !two from=last").startswith("Saved !two")
    assert d.wf.repo.contact("carol") is not None
    d.post("alice", conv.rid, "!two")
    assert posts(d, conv.rid)[-1].text == "Line one\nline two"
    assert d.dm("alice", "/canned add !x from=last") == (
        "from=last works in a conversation room, where I keep the messages."
    )


def test_multiline_extra_words(yaml_desk: Desk) -> None:
    d = yaml_desk
    conv = d.serving("carol", "alice")
    d.post("alice", conv.rid, "!greet\nP.S. your order shipped")
    assert posts(d, conv.rid)[-1].text == (
        "Hello Carol Contact, I'm Alice Agent. How can I help? P.S. your order shipped"
    )


def test_in_a_thread_the_answer_stays_in_the_thread(yaml_desk: Desk) -> None:
    d = yaml_desk
    conv = d.serving("carol", "alice")
    root = d.post("carol", conv.rid, "question")
    d.post("alice", conv.rid, "!greet", tmid=root.id)
    assert posts(d, conv.rid)[-1].data["tmid"] == root.id
