"""Issue 16, done means: whatever agents type and wherever they type it, a customer reads only the
agents' replies and the catalogue's texts (`messages.customer.*`).

Two whole chats over real sockets, a livechat visitor and a DM-intake contact, while a second
customer waits with a secret in their first line. The agents type every command both in their
console thread and in the customer's room. Then everything the customer can read is read: the
visitor through `livechat/messages.history` and the realtime stream their token may subscribe to
(folded by message id, as the widget does: a deleted command becomes an empty `rm`), the DM
contact through the case room's history and their DM with the bot.
"""

from __future__ import annotations

import re
from typing import Any

from chat import Chat, ChatUser, wait_until
from ddp_client import DDPTestClient
from test_e2e_livechat import CONFIG, available, conversation_of, livechat_seed, ready_desk, start

from bot.config.schema import CustomerMessages

SECRET_IBAN = "DE89 3704 0044 0532 0130 00"
SECRET_CARD = "4111 1111 1111 1111"
COMMENT_HOLD = "waiting-for-the-warehouse"
COMMENT_FORWARD = "VIP-account-handle-with-care"
COMMENT_CLOSE = "customer-was-rude"
TAG = "account"

#: typed in the customer's room and in the console thread: every command whose answer carries
#: customer data, plus the workflow's own
READ_COMMANDS = [
    "/queue",
    "/preview #{other}",
    "/mine",
    "/info",
    "/contact",
    "/history",
    "/search .",
    "/files",
    "/timers",
    "/info set topic=fragile",
]


def catalogue_pattern() -> re.Pattern[str]:
    """Every catalogue text, any placeholder filled: the only bot lines a customer may read."""
    texts = [v for k, v in vars(CustomerMessages()).items() if not k.startswith("_")]
    parts = []
    for text in texts:
        pieces = re.split(r"\{[a-z_]+\}", text)
        parts.append("(?s:" + ".*".join(re.escape(p) for p in pieces) + ")")
    return re.compile("^(?:" + "|".join(parts) + ")$")


def in_thread(user: ChatUser, chat: Chat, number: int, text: str) -> None:
    """`user` types `text` in their console thread for conversation `number`."""
    threads = chat.bot.services.console.repo
    thread = wait_until(lambda: threads.get(number, user.username), what="the console thread")
    before = len(chat.console(user.username, number))
    user.rest.post_message(thread.dm_rid, text, tmid=thread.root_id)
    wait_until(
        lambda: len(chat.console(user.username, number)) > before,
        what=f"the answer to {text!r} in the thread",
    )
    chat.idle()


def in_room(user: ChatUser, chat: Chat, rid: str, number: int, text: str) -> str:
    """`user` types `text` in the customer's room: the answer comes in the console thread."""
    room = user.in_room(rid)
    assert room.answered_in_console()
    answer = room.command(text)
    chat.idle()
    return answer


def everything(user: ChatUser, chat: Chat, number: int, rid: str, other: int) -> list[str]:
    """Every command, typed in the room and in the console thread; the room answers."""
    answers = []
    for command in READ_COMMANDS:
        line = command.format(other=other)
        answers.append(in_room(user, chat, rid, number, line))
        in_thread(user, chat, number, line)
    return answers


def folded(frames: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The stream's messages by id, the last version winning (as the widget renders them)."""
    out: dict[str, dict[str, Any]] = {}
    for args in frames:
        msg = args[0]
        out[msg["_id"]] = msg
    return out


def check_customer_reads(
    lines: list[dict[str, Any]], *, bot: str, forbidden: list[str], replies: list[str]
) -> None:
    pattern = catalogue_pattern()
    texts = [str(m.get("msg") or "") for m in lines]
    joined = "\n".join(texts)
    for needle in forbidden:
        assert needle not in joined, f"the customer can read {needle!r}"
    for reply in replies:
        assert reply in texts, f"the customer never got the agent's reply {reply!r}"
    for m in lines:
        text = str(m.get("msg") or "")
        assert not text.lstrip().startswith("/"), f"a command is readable: {text!r}"
        if (m.get("u") or {}).get("username") == bot and not m.get("t"):
            assert pattern.match(text), f"not a catalogue text from the bot: {text!r}"


def test_a_visitor_reads_only_replies_and_the_catalogue(make_chat: Any) -> None:
    desk = ready_desk(make_chat(config=CONFIG, seed=livechat_seed()))
    bob, erin = desk.user("bob"), desk.user("erin")
    available(bob, erin)
    sam = start(desk, f"My IBAN is {SECRET_IBAN}, please check my refund", name="Sam Secret")
    other = conversation_of(desk, sam.rid).number  # waits in the queue all along

    vera = desk.visitor(department="dep-support")
    rid = vera.open()
    with DDPTestClient(desk.server.ws_url).connect() as stream:
        _, ready = stream.sub(
            "stream-room-messages",
            rid,
            {"useCollection": False, "args": [{"token": vera.token, "visitorToken": vera.token}]},
        )
        assert ready is not None and ready["msg"] == "ready"
        vera.say("My router blinks red")
        n = conversation_of(desk, rid).number
        assert f"#{n}" in bob.dm_bot(f"/take {n}")
        bob.say(rid, "Please restart it and wait for the green light")
        vera.wait_for("Please restart it")
        assert vera.agent()["username"] == "bob"  # the widget's header names the human
        everything(bob, desk, n, rid, other)
        assert "hold" in in_room(bob, desk, rid, n, f"/hold {COMMENT_HOLD}").lower()
        vera.say("It is green now!")
        wait_until(lambda: desk.bot.services.repo.get(n).state.value == "serving", 10)
        desk.idle()
        in_thread(bob, desk, n, "/info")
        assert "@erin" in in_room(bob, desk, rid, n, f"/forward @erin {COMMENT_FORWARD}")
        wait_until(lambda: desk.bot.services.repo.get(n).agent == "erin", 10, "erin serves")
        assert vera.agent()["username"] == "erin"
        erin.say(rid, "Line checked, all good on our side")
        vera.wait_for("Line checked")
        everything(erin, desk, n, rid, other)
        in_thread(erin, desk, n, f'/close "{COMMENT_CLOSE}" tags={TAG}')
        wait_until(lambda: desk.bot.services.repo.get(n).state.value == "closed", 10)
        wait_until(lambda: any(m.get("t") == "livechat-close" for m in vera.history()), 10)
        desk.idle()
        frames = [
            f["fields"]["args"]
            for f in stream.events("stream-room-messages")
            if f["fields"]["eventName"] == rid
        ]
    # the real comment stays with the agents
    assert desk.bot.services.repo.get(n).comment == COMMENT_CLOSE
    forbidden = [
        SECRET_IBAN,
        "Sam Secret",
        COMMENT_HOLD,
        COMMENT_FORWARD,
        COMMENT_CLOSE,
        "fragile",
        f"tags={TAG}",
        "Conversation #",  # /info's and /queue's answers, the opening note of old
        "Placed on hold by",
        "Forwarded to",
        "joined.",
    ]
    replies = [
        "Please restart it and wait for the green light",
        "Line checked, all good on our side",
    ]
    seen = [m for m in vera.history()]
    check_customer_reads(seen, bot="omnicat", forbidden=forbidden, replies=replies)
    live = list(folded(frames).values())
    check_customer_reads(live, bot="omnicat", forbidden=forbidden, replies=replies)
    texts = [str(m.get("msg") or "") for m in seen]
    assert "Bob Agent is now helping you." in texts and "Erin Agent is now helping you." in texts
    assert any(t.startswith("You are being transferred") for t in texts)
    # the commands typed in the room were deleted (the bot holds delete-message): the stream
    # delivered them, then their deletion
    assert any(str(args[0].get("msg", "")).startswith("/info") for args in frames)


def test_a_dm_contact_reads_only_replies_and_the_catalogue(make_chat: Any) -> None:
    desk = make_chat(config={**CONFIG, "intake": {"dm": {"department": "support"}}})
    bob, erin = desk.user("bob"), desk.user("erin")
    available(bob, erin)
    dave, carol = desk.user("dave"), desk.user("carol")
    assert "Your conversation #" in dave.dm_bot(f"My card {SECRET_CARD} was charged twice")
    other = desk.bot.services.repo.open_for_contact("dave").number  # waits all along
    assert "Your conversation #" in carol.dm_bot("My order never arrived")
    conv = wait_until(lambda: desk.bot.services.repo.open_for_contact("carol"))
    n, rid = conv.number, conv.rid
    assert bob.dm_bot(f"/take {n}").startswith(f"You took #{n}")
    bob.say(rid, "Let me look at your order")
    everything(bob, desk, n, rid, other)
    in_thread(bob, desk, n, f"/hold {COMMENT_HOLD}")
    carol.say(rid, "Any news?")
    wait_until(lambda: desk.bot.services.repo.get(n).state.value == "serving", 10)
    desk.idle()
    in_room(bob, desk, rid, n, f"/forward @erin {COMMENT_FORWARD}")
    wait_until(lambda: desk.bot.services.repo.get(n).agent == "erin", 10, "erin serves")
    erin.say(rid, "Found it, it ships today")
    everything(erin, desk, n, rid, other)
    in_room(erin, desk, rid, n, f'/close "{COMMENT_CLOSE}" tags={TAG}')
    wait_until(lambda: desk.bot.services.repo.get(n).state.value == "closed", 10)
    desk.idle()
    readable = desk.messages(rid) + desk.messages(carol.bot_dm)
    forbidden = [
        SECRET_CARD,
        "@dave",
        COMMENT_HOLD,
        COMMENT_FORWARD,
        COMMENT_CLOSE,
        "fragile",
        f"tags={TAG}",
        "Placed on hold by",
        "Forwarded to",
        "joined.",
    ]
    replies = ["Let me look at your order", "Found it, it ships today"]
    # the contact's DM also holds the intake's own answers to her (where her room is)
    in_room_only = desk.messages(rid)
    check_customer_reads(in_room_only, bot="omnicat", forbidden=forbidden, replies=replies)
    joined = "\n".join(str(m.get("msg") or "") for m in readable)
    for needle in forbidden:
        assert needle not in joined, f"carol can read {needle!r}"
    texts = [str(m.get("msg") or "") for m in in_room_only]
    assert "Bob Agent is now helping you." in texts and "Erin Agent is now helping you." in texts
