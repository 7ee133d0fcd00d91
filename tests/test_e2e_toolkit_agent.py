"""The agent toolkit end to end: the dev server, the real bot, people typing and uploading.

Support has bob and erin; carol is the contact. The DM intake goes straight to support.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chat import Chat, wait_until

CONFIG = {
    "departments": {"support": {"agents": ["bob", "erin"]}},
    "intake": {"dm": {"department": "support"}},
    "commands": {"rate_limit": {"count": 0}},
    "canned": [
        {"shortcut": "greet", "text": "Hello {{contact.name}}, I'm {{agent.name}}. How can I help?"}
    ],
}


def serving(chat: Chat, contact: str, agent: str, text: str) -> tuple[Any, Any]:
    """`contact` writes to the bot; `agent` takes it. (conversation, the agent's room view)"""
    person = chat.user(agent)
    assert person.dm_bot("/status available") == "You are now available for chats."
    told = chat.user(contact).dm_bot(text)
    assert "Your conversation #" in told, told
    wf = chat.bot.services
    conv = wait_until(lambda: wf.repo.open_for_contact(contact), what="the conversation")
    if conv.agent != agent:
        assert person.dm_bot(f"/take {conv.number}").startswith(f"You took #{conv.number}")
    room = person.in_room(conv.rid)
    wait_until(
        lambda: any(f"@{agent} joined" in t for t in chat.console(agent, conv.number)),
        what="the joined note, in the agent's console",
    )
    return conv, room


def bot_posts(chat: Chat, rid: str) -> list[dict[str, Any]]:
    return [
        m
        for m in chat.messages(rid)
        if (m.get("u") or {}).get("username") == chat.bot_username and not m.get("t")
    ]


@pytest.fixture
def desk(make_chat: Any) -> Chat:
    return make_chat(config=CONFIG)


def test_canned_search_and_files(desk: Chat) -> None:
    conv, room = serving(desk, "carol", "bob", "My invoice shows error404")
    carol = desk.user("carol").in_room(conv.rid)
    rid = conv.rid

    # !shortcut: posted under bob's name, placeholders filled, bob's message deleted
    sent = room.say("!greet thanks for waiting")
    expected = "Hello Carol Contact, I'm Bob Agent. How can I help? thanks for waiting"
    post = wait_until(
        lambda: [m for m in bot_posts(desk, rid) if m.get("msg") == expected],
        what="the canned response",
    )[0]
    assert post.get("alias") == "Bob Agent (canned)"
    wait_until(lambda: sent.id not in [m["_id"] for m in desk.messages(rid)], what="!greet deleted")
    bob = desk.user("bob")
    room.say("!gret")
    wait_until(
        lambda: any(
            t.startswith("There is no canned response !gret. Did you mean !greet?")
            for t in desk.console("bob", conv.number)
        ),
        what="the private unknown-shortcut reply, in bob's console thread for it",
    )

    # chat-created responses work beside the YAML ones
    assert bob.dm_bot("/canned add !bye scope=user Bye {{contact.name}}!").startswith("Saved !bye")
    room.say("!bye")
    wait_until(
        lambda: any(m.get("msg") == "Bye Carol Contact!" for m in bot_posts(desk, rid)),
        what="the chat-created canned response",
    )
    # outside conversations too, without the contact placeholders
    general = desk.server.room_by_name("general")["_id"]
    bob.say(general, "!greet")
    wait_until(
        lambda: any(
            m.get("msg") == "Hello {{contact.name}}, I'm Bob Agent. How can I help?"
            for m in bot_posts(desk, general)
        ),
        what="the canned response in #general",
    )

    # search: the opening message (in the DM) and the room's, edits and deletions followed
    wrong = carol.say("Also ERROR500 and the total is wrong")
    typo = carol.say("and error777 (typo)")
    found = room.command(r"/search error\d{3}")
    assert found.startswith(f"3 messages in #{conv.number} match")
    assert "@carol: My invoice shows *error404*" in found
    desk.user("carol").rest.update_message(rid, wrong.id, "Also the total is wrong")
    desk.user("carol").rest.delete_message(rid, typo.id)
    desk.idle()
    found = room.command(r"/search error\d{3}")
    assert found.startswith(f"1 message in #{conv.number} match"), found
    assert room.command("/search (a+)+$") == f"No messages in #{conv.number} match '(a+)+$'."
    assert room.command("/search (oops").startswith("Invalid pattern '(oops'")

    # files uploaded through the server
    people = desk.user("carol").rest
    people.upload(rid, b"\x89PNG\r\n\x1a\n" + b"0" * 2000, "screen-error.png", "image/png")
    people.upload(rid, b"%PDF-1.4\n" + b"0" * 100, "invoice-march.pdf", "application/pdf")
    room.user.rest.upload(rid, b"hello", "notes.txt", "text/plain", message="my notes")
    desk.idle()
    everything = room.command("/files").splitlines()
    assert everything[0] == f"3 files in #{conv.number} (newest first):"
    assert [ln.split(" ")[0] for ln in everything[1::2]] == [
        "notes.txt",
        "invoice-march.pdf",
        "screen-error.png",
    ]
    images = room.command("/files image").splitlines()
    assert len(images) == 3 and images[1].startswith("screen-error.png (image, image/png, 2.0 KB)")
    assert "by @carol" in images[1] and images[2].strip().startswith(desk.server.url)
    documents = room.command("/files document").splitlines()
    assert [ln.split(" ")[0] for ln in documents[1::2]] == ["notes.txt", "invoice-march.pdf"]
    assert room.command("/files application/pdf").startswith("1 file")
    assert room.command("/files march").splitlines()[1].startswith("invoice-march.pdf")
    assert room.command("/files video") == f"No matching files in #{conv.number}."


def test_metrics_with_a_controlled_clock(make_chat: Any, monkeypatch: Any) -> None:
    """Server and bot share one scripted clock, so the room's metrics come out exact."""
    import bot.devserver.dates
    import bot.runtime.root

    t0 = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    clock = {"now": t0}

    def at(seconds: int) -> None:
        clock["now"] = t0 + timedelta(seconds=seconds)

    def now() -> datetime:
        return clock["now"]

    chat = make_chat(config=CONFIG, start=False)
    monkeypatch.setattr(bot.devserver.dates, "now", now)
    monkeypatch.setattr(bot.runtime.root, "utc_now", now)
    chat.start_bot()
    bob, carol = chat.user("bob"), chat.user("carol")
    assert bob.dm_bot("/status available") == "You are now available for chats."
    at(10)
    assert "Your conversation #" in carol.dm_bot("My printer is on fire")
    conv = chat.bot.services.repo.open_for_contact("carol")
    at(70)
    assert bob.dm_bot(f"/take {conv.number}").startswith(f"You took #{conv.number}")
    room, theirs = bob.in_room(conv.rid), carol.in_room(conv.rid)
    for seconds, who, text in (
        (100, room, "Hello, let me look"),  # first response: 90 s
        (110, room, "Still looking"),  # answers nothing new
        (200, theirs, "thanks"),
        (210, theirs, "any news?"),  # the last query
        (250, room, "Fixed it"),  # 40 s
    ):
        at(seconds)
        who.say(text)
        chat.idle()
    at(300)
    info = room.command("/info").splitlines()
    assert "Queue time: 1m 00s" in info
    assert "First response time: 1m 30s" in info
    assert "Average response time: 1m 05s" in info  # (90 + 40) / 2
    assert "Inactivity time: 50s" in info
    assert "Agent: @bob" in info and "Contact: Carol Contact (@carol)" in info


def test_call_contact_and_history(make_chat: Any) -> None:
    config = {
        **CONFIG,
        "calls": {"provider": "jitsi", "base_url": "https://meet.example.test"},
        "contacts": {"fields": {"customer_id": {"label": "Customer ID", "regex": "^C-\\d{4}$"}}},
    }
    chat = make_chat(config=config)
    conv, room = serving(chat, "carol", "bob", "Where is my parcel?")
    rid = conv.rid
    carol = chat.user("carol").in_room(rid)

    # /call: a card with a Join link and two answer buttons that send commands back
    room.say("/call")
    card = wait_until(
        lambda: [m for m in bot_posts(chat, rid) if m.get("attachments")], what="the call card"
    )[-1]
    url = card["attachments"][0]["title_link"]
    assert url.startswith(f"https://meet.example.test/omnicat-{conv.number}-")
    buttons = [(a["text"], a.get("url"), a.get("msg")) for a in card["attachments"][0]["actions"]]
    assert buttons == [
        ("Join", url, None),
        ("I'm joining", None, "/call join"),
        ("Decline", None, "/call decline"),
    ]
    carol.say("/call join")  # what the button sends, as the contact
    # the note is the agents' (in bob's console); the room carol reads says nothing more
    wait_until(lambda: "@carol joined the call." in chat.console("bob", conv.number))
    assert "@carol joined the call." not in chat.bot_messages(rid)

    # /contact set with validation, then the card
    assert room.command("/contact set phone=12").startswith("'12' is not a phone number")
    assert room.command("/contact set customer_id=C-12").startswith(
        "'C-12' is not a valid Customer ID"
    )
    updated = room.command('/contact set email=carol@shop.test phone="+44 20 7946 0000"')
    assert updated.startswith("Updated @carol: email, phone.")
    card_text = room.command("/contact")
    assert "E-mail: carol@shop.test" in card_text and "Phone: +44 20 7946 0000" in card_text
    assert "Conversations: 1" in card_text and "Last agent: @bob" in card_text

    # history: close, come back, and look at the past from the new room
    room.say("/close parcel found tags=shipping")
    wait_until(lambda: chat.bot.services.repo.get(conv.number).state.value == "closed")
    chat.idle()
    _again, room2 = serving(chat, "carol", "bob", "Another question")
    past = room2.command("/history").splitlines()
    assert past[0] == "Earlier conversations of @carol (newest first):"
    assert past[1].startswith(f"#{conv.number} ") and "tags: shipping" in past[1]
    assert '"parcel found"' in past[1]
    assert (
        room2.command("/history parcel").splitlines()[2].endswith("@carol: Where is my *parcel*?")
    )
