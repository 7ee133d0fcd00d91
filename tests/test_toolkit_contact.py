"""`/contact` (validation, custom fields, permissions), `/info set` and `/call`."""

from __future__ import annotations

import pytest
from test_toolkit_desk import Desk

from bot.services import contacts as validation
from bot.services.calls import NOT_CONFIGURED, meeting_url

FIELDS = {
    "customer_id": {"label": "Customer ID", "regex": "^C-[0-9]{6}$"},
    "plan": {},
}


@pytest.fixture
def desk(tmp_path):
    d = Desk(
        tmp_path,
        {
            "contacts": {"fields": FIELDS},
            "calls": {
                "provider": "template",
                "url_template": "https://meet.test/{room}?n={number}",
            },
            "permissions": {"overrides": {"update-livechat-contact": ["livechat-manager"]}},
        },
    )
    yield d
    d.close()


def test_validation_rules() -> None:
    assert validation.email(" carol@example.com ") == "carol@example.com"
    for bad in ("carol", "carol@", "@x.com", "a b@x.com", "carol@example", "c@-x.com"):
        with pytest.raises(Exception, match="not an e-mail address"):
            validation.email(bad)
    assert validation.phone("+1 (555) 010-0100") == "+1 (555) 010-0100"
    for bad in ("12345", "+1 555 abc 0100", "1234567890123456", "++15550100"):
        with pytest.raises(Exception, match="not a phone number"):
            validation.phone(bad)
    fields = {"customer_id": type("F", (), {"label": "Customer ID", "regex": "^C-[0-9]{6}$"})()}
    builtin, custom = validation.validate(
        [("Email", "c@x.io"), ("customer_id", "C-123456"), ("phone", "")], fields
    )
    assert builtin == {"email": "c@x.io", "phone": ""} and custom == {"customer_id": "C-123456"}
    with pytest.raises(Exception, match=r"not a valid Customer ID \(it must match"):
        validation.validate([("customer_id", "C-12")], fields)
    with pytest.raises(Exception, match=r"Unknown contact field .custmer_id.\. Did you mean"):
        validation.validate([("custmer_id", "x")], fields)


def test_contact_card_and_set(desk: Desk) -> None:
    conv = desk.serving("carol", "alice")
    card = desk.cmd("alice", conv.rid, "/contact").splitlines()
    assert card[:4] == ["Contact @carol", "Name: Carol Contact", "E-mail: —", "Phone: —"]
    assert "Customer ID: —" in card and "plan: —" in card
    assert "Conversations: 1" in card and "Last agent: @alice" in card
    # update-livechat-contact is overridden to managers only here
    assert desk.cmd("alice", conv.rid, "/contact set email=c@x.io") == (
        "You don't have permission to edit contacts (update-livechat-contact)."
    )
    n = conv.number
    set_ = f'/contact set #{n} email=carol@example.com phone="+1 555 0100" customer_id=C-000042'
    answer = desk.dm("maria", set_)
    assert answer.startswith("Updated @carol: email, phone, customer_id.")
    assert "E-mail: carol@example.com" in answer and "Customer ID: C-000042" in answer
    # one bad value: nothing saved
    bad = desk.dm("maria", f"/contact set #{n} email=new@example.com phone=12")
    assert bad.startswith("'12' is not a phone number")
    assert desk.wf.repo.contact("carol").email == "carol@example.com"
    assert desk.dm("maria", f"/contact set #{n} customer_id=42").startswith(
        "'42' is not a valid Customer ID"
    )
    assert desk.dm("maria", f"/contact set #{n} plann=gold").startswith(
        "Unknown contact field 'plann'. Did you mean plan?"
    )
    assert desk.dm("maria", f'/contact set #{n} name="Carol Smith" plan=gold').startswith(
        "Updated @carol: name, plan."
    )
    # an empty value clears a custom field
    desk.dm("maria", f"/contact set #{n} plan=")
    assert "plan: —" in desk.dm("maria", "/contact @carol")
    assert desk.dm("maria", "/contact").startswith(
        "Whose? Here write /contact #N or /contact @contact.\nUsage: /contact"
    )
    assert desk.dm("maria", "/contact @nobody") == "I have never had a conversation with @nobody."
    assert desk.dm("maria", "/contact set @nobody email=a@b.co") == (
        "I have never had a conversation with @nobody."
    )
    assert desk.wf.repo.contact("nobody") is None
    assert desk.dm("carol", "/contact @carol") == "/contact is a command for support agents."


def test_contact_of_another_department_reads_like_a_stranger(desk: Desk) -> None:
    conv = desk.serving("carol", "alice")  # a support chat; carl is in sales
    stranger = "I have never had a conversation with @carol."
    assert desk.dm("carl", "/contact @carol") == stranger
    assert desk.dm("carl", "/contact @nobody") == "I have never had a conversation with @nobody."
    assert desk.dm("carl", "/contact set @carol name=X") == stranger
    n = conv.number
    assert desk.dm("carl", f"/contact #{n}") == f"There is no conversation #{n}."
    # the department's agents and the managers see the card
    assert desk.dm("bob", "/contact @carol").startswith("Contact @carol\n")
    assert desk.dm("maria", "/contact @carol").startswith("Contact @carol\n")
    assert desk.dm("mona", "/contact @carol").startswith("Contact @carol\n")
    assert desk.wf.repo.contact("carol").name == "Carol Contact"


def test_info_set(desk: Desk) -> None:
    conv = desk.serving("carol", "alice")
    rid = conv.rid
    before = len(desk.notes(conv.number, "alice"))
    in_room = desk.say(
        "alice", rid, '/info set topic="Broken printer" priority=high tags=+printer,+hw'
    )
    assert in_room == []  # the contact reads the room: the note is in alice's console
    notes = desk.notes(conv.number, "alice")[before:]
    assert notes == [
        '@alice set the topic to "Broken printer"; set the priority to high; '
        "added the tags printer, hw."
    ]
    info = desk.cmd("alice", rid, "/info")
    assert "Topic: Broken printer" in info and "Priority: high" in info
    assert "Tags: printer, hw" in info
    desk.say("alice", rid, "/info set tags=-hw priority=none")
    assert desk.notes(conv.number, "alice")[-1] == (
        "@alice cleared the priority; removed the tag hw."
    )
    assert (
        desk.cmd("alice", rid, "/info set tags=+printer") == f"Nothing changed in #{conv.number}."
    )
    # another agent of the department does not even see a chat alice serves (rules §7)
    assert desk.dm("bob", f"/info set #{conv.number} topic=x") == (
        f"There is no conversation #{conv.number} you can see."
    )
    assert desk.dm("maria", f"/info set #{conv.number} topic=Escalated") == (
        f'#{conv.number}: set the topic to "Escalated".'
    )
    assert desk.conv(conv.number).topic == "Escalated"
    assert desk.cmd("alice", rid, "/info set priority=urgent").startswith(
        "Expected one of highest, high, medium, low, lowest, none; got 'urgent'."
    )
    assert desk.cmd("alice", rid, "/info set topic=two words").startswith(
        "'words' is not a conversation number"
    )


def test_call_with_buttons_and_answers(desk: Desk) -> None:
    conv = desk.serving("carol", "alice")
    rid = conv.rid
    desk.say("alice", rid, "/call")
    post = [e for e in desk.chat.effects if e.kind == "post" and e.rid == rid][-1]
    url = post.data["attachments"][0].title_link
    assert url.startswith(f"https://meet.test/omnicat-{conv.number}-") and url.endswith(
        f"?n={conv.number}"
    )
    actions = post.data["attachments"][0].actions
    assert [(a.text, a.url, a.msg) for a in actions] == [
        ("Join", url, None),
        ("I'm joining", None, "/call join"),
        ("Decline", None, "/call decline"),
    ]
    assert post.text == f"@carol, @alice started a video call: {url}"
    # the answers are notes for the agents, in their console (the room says nothing)
    n = conv.number
    assert desk.say("carol", rid, "/call decline") == []
    assert desk.notes(n, "alice")[-1] == "@carol declined the call."
    assert desk.say("carol", rid, "/call decline") == []  # a second click: already noted
    assert desk.notes(n, "alice").count("@carol declined the call.") == 1
    assert desk.say("carol", rid, "/call join") == []
    assert desk.notes(n, "alice")[-1] == "@carol joined the call."
    assert desk.say("alice", rid, "/call join") == []
    assert desk.notes(n, "alice")[-1] == "@alice joined the call."
    assert desk.cmd("alice", rid, "/call decline") == "Only the contact can decline the call."
    # a manager sees the chat but is not in it
    assert (
        desk.cmd("maria", rid, "/call") == "Only the agents in this conversation can start a call."
    )
    assert desk.dm("alice", "/call") == "/call works only in a conversation room."
    # the contact in her own room: told why, and her /help does not offer /call
    assert desk.cmd("carol", rid, "/call") == (
        "Only the support team can start a call here; when they do, you get a Join button."
    )
    assert "/call" not in desk.cmd("carol", rid, "/help")
    assert "/call" in desk.cmd("alice", rid, "/help")
    # a contact's bare "call" in my DM is a message for intake, never this command
    before = len(desk.chat.effects)
    desk.say("dave", desk.chat.dm_room("dave"), "call")
    assert desk.wf.repo.open_for_contact("dave") is not None
    assert not any("conversation room" in (e.text or "") for e in desk.chat.effects[before:])


def test_call_not_configured(tmp_path) -> None:
    d = Desk(tmp_path)
    try:
        conv = d.serving("carol", "alice")
        assert d.cmd("alice", conv.rid, "/call") == NOT_CONFIGURED
        assert (
            d.cmd("alice", conv.rid, "/call join") == "There is no call in this conversation yet."
        )
    finally:
        d.close()


def test_meeting_urls() -> None:
    jitsi = type("C", (), {"provider": "jitsi", "base_url": "https://meet.jit.si/"})()
    assert meeting_url(jitsi, number=7, token="abc") == "https://meet.jit.si/omnicat-7-abc"
    tpl = type("C", (), {"provider": "template", "url_template": "https://x/{random}/{number}"})()
    assert meeting_url(tpl, number=7, token="r1") == "https://x/r1/7"
    assert meeting_url(jitsi, number=7) != meeting_url(jitsi, number=7)  # unguessable
