"""The command rate limit with its defaults, over the real dev server: an agent working quickly
is never throttled, a script flooding the bot is, and every command it sent is either answered
or named as not run. No timing is asserted: the defaults leave a person far below the limit
(20 at once), and a flood of 200 is far above it however slow the machine."""

from __future__ import annotations

import re
from typing import Any

from chat import Chat, wait_until
from test_e2e_workflow_commands import open_conversation

REFUSED = "Too many commands at once (the limit is 20 at once, then 2 per second)"
DEPARTMENTS = {"sales": {"agents": ["alice"]}, "support": {"agents": ["bob", "erin"]}}
#: a room's "New chat" notices come between replies; they answer no command
NOTICE = "New chat #"


def replies_after(chat: Chat, rid: str, first_id: str) -> list[str]:
    """The bot's messages in `rid` from the reply to message `first_id` on (its own first): the
    top-level answers, not the console threads (issue 16) a /take opens, their roots or notes."""
    before = chat.messages(rid)
    ids = [m.get("_id") for m in before]
    start = ids.index(first_id)
    roots = chat.console_roots()
    return [
        str(m.get("msg", ""))
        for m in before[start:]
        if (m.get("u") or {}).get("username") == chat.bot_username
        and not m.get("t")
        and not m.get("tmid")
        and m.get("_id") not in roots
    ]


def test_an_agent_sending_15_commands_at_once_gets_every_real_answer(make_chat: Any) -> None:
    chat = make_chat(config={"departments": DEPARTMENTS})
    n = open_conversation(chat, "carol", "support", "My router blinks red").number
    chat.idle()
    bob = chat.user("bob")
    rid = bob.bot_dm
    work: list[tuple[str, str, bool]] = [  # command, its answer, exact (or only the start)
        ("/status available", "You are now available for chats. 1 chat(s) waiting", False),
        ("/queue", f"1 chat(s) waiting:\n#{n} @carol (Carol Contact) · support · waiting", False),
        (f"/preview {n}", f"#{n} @carol (Carol Contact) · support · waiting", False),
        (f"/take {n}", f"You took #{n} from @carol (Carol Contact) in support.", False),
        ("/mine", f"Your conversations (1):\n#{n} @carol (Carol Contact) · support", False),
        (f"/info #{n}", f"Conversation #{n} — serving\nDepartment: support", False),
        (f"/contact #{n}", "Contact @carol\nName: Carol Contact", False),
        (f"/requeue #{n}", f"#{n} is back in the queue of support.", True),
        (f"/take {n}", f"You took #{n} from @carol (Carol Contact) in support.", False),
        (
            f"/hold #{n}",
            "You can place a chat on hold only after you've replied to the contact.",
            True,
        ),
        ("/prefs", "transcript-pdf: off, transcript-email: off.", True),
        (f"/history #{n}", "@carol has no earlier conversations you can see.", True),
        ("/help close", "/close [#N] [comment] [tags=a,b]", False),
        (f'/close #{n} "done" tags=billing', f"#{n} is closed.", True),
        ("/status", "You are available (presence: online); 0 chat(s) open.", True),
    ]
    assert len(work) == 15
    sent = [bob.say(rid, text) for text, _, _ in work]  # back to back, not waiting for answers

    def answers() -> list[str] | None:
        got = [r for r in replies_after(chat, rid, sent[0].id) if not r.startswith(NOTICE)]
        return got if len(got) >= len(work) else None

    got = wait_until(answers, 30, "an answer to each of the 15 commands")
    chat.idle()
    got = answers() or []
    assert len(got) == len(work), got
    for (text, answer, exact), reply in zip(work, got, strict=True):
        assert not reply.startswith("Too many commands"), (text, reply)
        assert reply == answer if exact else reply.startswith(answer), (text, reply)
    assert chat.bot.services.repo.get(n).state == "closed"


def test_a_script_sending_200_at_once_is_throttled_and_told_what_did_not_run(
    chat: Chat,
) -> None:
    alice = chat.user("alice")
    rid = alice.bot_dm
    texts = ["/prefs", "/help prefs", "/help queue", "/help mine"]
    bob = chat.user("bob")  # another agent: alice's bucket stays full
    expected = {text: bob.dm_bot(text) for text in texts}  # each one's answer, calmly
    chat.idle()
    flood = [texts[i % len(texts)] for i in range(200)]
    sent = [alice.say(rid, text) for text in flood]

    def account() -> tuple[int, int, list[str]] | None:
        answered = refused = 0
        refusals: list[str] = []
        for reply in replies_after(chat, rid, sent[0].id):
            if reply.startswith(REFUSED):
                refusals.append(reply)
                refused += 1
            elif reply.startswith("Still too many commands at once"):
                refusals.append(reply)
                named = re.findall(r"`[^`]+`(?: \((\d+) times\))?", reply.split(": ", 1)[1])
                refused += sum(int(times or 1) for times in named)
            else:
                assert reply in expected.values(), reply
                answered += 1
        return (answered, refused, refusals) if answered + refused >= len(flood) else None

    answered, refused, refusals = wait_until(account, 60, "all 200 commands accounted for")
    chat.idle()
    print(
        f"\n[ratelimit] 200 sent: {answered} answered, {refused} named as not run, in "
        f"{len(refusals)} refusal replies"
    )
    assert answered + refused == len(flood)
    assert answered >= 20  # the burst, at least
    assert refused > 0, "200 commands at once were never throttled"
    first = refusals[0]
    assert re.fullmatch(
        re.escape(REFUSED) + r": I did not run `/[a-z ]+`\. Send it again in 1 s\.", first
    ), first
    # a flood gets a few refusals and then summaries, not one reply per refused command
    assert len(refusals) < refused or refused <= 3
    # and afterwards (the bucket refills) the same user is answered again
    wait_until(lambda: chat.bot.app.limit.bucket.wait(alice.id) == 0.0, 30, "a token again")
    assert alice.dm_bot("/prefs") == expected["/prefs"]


def test_commands_refused_in_a_customer_room_are_deleted_from_it_too(make_chat: Any) -> None:
    """Issue 16: a command an agent types in a customer room is deleted from it once handled,
    and so is one the rate limit refused (its refusal goes to the top level of the agent's DM
    with the bot): the contact's room keeps none of them."""
    limits = {"rate_limit": {"burst": 3, "per_second": 0.05}}
    chat = make_chat(config={"departments": DEPARTMENTS, "commands": limits})
    n = open_conversation(chat, "carol", "support", "My router blinks red").number
    bob = chat.user("bob")
    assert bob.dm_bot("/status available").startswith("You are now available")  # 1 token
    assert bob.dm_bot(f"/take {n}").startswith(f"You took #{n}")  # 2
    rid = chat.bot.services.repo.get(n).rid
    typed = [bob.say(rid, text) for text in ("/info", "/contact", "/mine")]  # 3, then refused
    ids = {m.id for m in typed}

    def left() -> list[str]:
        return [
            str(m.get("msg"))
            for m in chat.messages(rid)
            if m.get("_id") in ids and m.get("t") != "rm" and m.get("msg")
        ]

    def refusals() -> list[str] | None:
        """The refusals at the top level of bob's DM, once both are there."""
        got = [
            str(m.get("msg"))
            for m in chat.messages(bob.bot_dm)
            if (m.get("u") or {}).get("username") == chat.bot_username
            and not m.get("tmid")
            and str(m.get("msg")).startswith("Too many commands")
        ]
        return got if len(got) >= 2 else None

    told = wait_until(refusals, 30, "the refusals in bob's DM")
    chat.idle()
    assert told == refusals(), "one refusal per refused command"
    assert "I did not run `/contact`" in told[0] and "I did not run `/mine`" in told[1], told
    wait_until(lambda: left() == [], 30, "every command gone from carol's room")
    assert any(t.startswith(f"Conversation #{n}") for t in chat.console("bob", n))
    assert not [t for t in chat.bot_messages(rid) if "Too many" in t]
