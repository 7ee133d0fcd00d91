"""End to end: the take race over real sockets, a restart mid-conversation, the permission
matrix, the channel intake and presence."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from chat import Chat, default_seed, wait_until

# Every test here runs on SQLite and on PostgreSQL (the `chat` fixture's store).
pytestmark = pytest.mark.both_stores

AGENTS = [f"agent{i:02d}" for i in range(1, 21)]
RACE_ROUNDS = 5  # quick; the full 20 x 50 race is in tests/test_reliability_take_race.py


def seed(*extra: dict[str, Any]) -> dict[str, Any]:
    data = default_seed()
    data["users"].extend(
        {"password": f"{u['username']}-dev", "roles": ["user"], **u} for u in extra
    )
    return data


def open_in(desk: Chat, contact: str, text: str = "Hello, I need help") -> int:
    told = desk.user(contact).dm_bot(text)
    assert "Your conversation #" in told, told
    desk.idle()
    return desk.bot.services.repo.open_for_contact(contact).number


def test_take_race_over_the_wire(make_chat: Any) -> None:
    people = [{"username": a, "roles": ["user", "livechat-agent"]} for a in AGENTS]
    contacts = [{"username": f"racer{i}"} for i in range(RACE_ROUNDS)]
    config = {
        "departments": {"support": {"agents": AGENTS}},
        "intake": {"dm": {"department": "support"}},
        "commands": {"rate_limit": {"count": 0}},
    }
    desk = make_chat(config=config, seed=seed(*people, *contacts))
    users = [desk.user(a) for a in AGENTS]
    for u in users:
        assert u.dm_bot("/status on").startswith("You are now available")
    for round_ in range(RACE_ROUNDS):
        n = open_in(desk, f"racer{round_}")
        barrier = threading.Barrier(len(users))
        sent: dict[str, str] = {}

        def take(u: Any, n: int = n, barrier: Any = barrier, sent: dict = sent) -> None:
            barrier.wait()
            sent[u.username] = u.say(u.bot_dm, f"/take {n}").id

        threads = [threading.Thread(target=take, args=(u,)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        answers = {u.username: u.wait_reply(u.bot_dm, sent[u.username], 20) for u in users}
        winners = [name for name, a in answers.items() if a.startswith(f"You took #{n}")]
        assert len(winners) == 1, answers
        winner = winners[0]
        losers = {a for name, a in answers.items() if name != winner}
        assert losers == {f"Conversation #{n} was already taken by @{winner}."}
        conv = desk.bot.services.repo.get(n)
        assert conv.agent == winner
        members = {u.username for u in desk.server.state.members(conv.rid)}
        assert members & set(AGENTS) == {winner}
        desk.idle()
        assert desk.user(winner).dm_bot(f"/close #{n} done") == f"#{n} is closed."


def test_restart_mid_conversation(make_chat: Any) -> None:
    config = {
        "departments": {"support": {"agents": ["bob", "erin"]}},
        "commands": {"rate_limit": {"count": 0}},
    }
    desk = make_chat(config=config)
    bob = desk.user("bob")
    bob.dm_bot("/status on")
    n = open_in(desk, "carol")
    assert bob.dm_bot(f"/take {n}").startswith(f"You took #{n}")
    rid = desk.bot.services.repo.get(n).rid
    room = bob.in_room(rid)
    room.say("Let me check")
    room.say("/hold")
    wait_until(lambda: desk.bot.services.repo.get(n).state.value == "on_hold", what="on hold")
    desk.idle()
    desk.server.set_presence("bob", "online")  # bob's own client stays connected
    desk.stop_bot()
    # the contact writes while the bot is away: caught up at start, the chat resumes
    desk.user("carol").say(rid, "Any news?")
    desk.start_bot()
    desk.idle()
    wait_until(lambda: desk.bot.services.repo.get(n).state.value == "serving", what="auto-resume")
    conv = desk.bot.services.repo.get(n)
    assert conv.agent == "bob" and conv.department == "support"
    # told in bob's console; the room carol reads says nothing of it
    resumed = "Resumed automatically: @carol wrote: > Any news?"
    wait_until(lambda: resumed in desk.console("bob", n), what="bob told")
    assert not any("Resumed" in t for t in room.replies())
    assert bob.dm_bot("/mine").startswith("Your conversations (1):")
    assert bob.dm_bot("/status").startswith("You are available")
    # the next command works, the contact's next question is a new conversation
    assert bob.dm_bot(f"/close #{n} solved") == f"#{n} is closed."
    carol = desk.user("carol")
    wait_until(
        lambda: (
            f"Your conversation #{n} is closed. Write to me again any time."
            in carol.replies(carol.bot_dm)
        ),
        what="carol told",
    )
    told = carol.dm_bot("One more thing")
    assert f"#{n + 1}" in told and "@bob is there to help you." in told


PERMISSION_MATRIX = {
    # command → (contact, agent, monitor, manager): True = the role may use it. #99 does not
    # exist, so an allowed command stops at "no such conversation" and changes nothing.
    "/status": (False, True, True, True),
    "/queue": (False, True, True, True),
    "/preview 99": (False, True, True, True),
    "/take 99": (False, True, True, True),
    "/mine": (False, True, True, True),
    "/requeue #99": (False, True, True, True),
    "/forward #99 @bob": (False, False, True, True),
    "/hold #99": (False, True, True, True),
    "/resume #99": (False, True, True, True),
    "/close #99 done": (False, True, True, True),
    "/invite #99 @maria": (False, True, True, True),
}


def test_permission_matrix(make_chat: Any) -> None:
    config = {
        "departments": {"sales": {"agents": ["alice"]}, "support": {"agents": ["bob"]}},
        "intake": {"dm": {"department": "sales"}},
        "commands": {"rate_limit": {"count": 0}},
    }
    desk = make_chat(
        config=config, seed=seed({"username": "mona", "roles": ["user", "livechat-monitor"]})
    )
    assert open_in(desk, "carol") == 1
    roles = ("zoe", "bob", "mona", "maria")
    for text, allowed in PERMISSION_MATRIX.items():
        word = text.split()[0]
        for who, ok in zip(roles, allowed, strict=True):
            answer = desk.user(who).dm_bot(text)
            denied = answer in (
                f"You don't have permission to use {word}.",  # staff without the permission
                f"{word} is a command for support agents.",  # a contact
            )
            assert denied != ok, (who, text, answer)
    # the department dimension: a support agent cannot reach a sales chat, managers can
    bob, alice, maria = desk.user("bob"), desk.user("alice"), desk.user("maria")
    bob.dm_bot("/status on")
    alice.dm_bot("/status on")
    assert bob.dm_bot("/take 1") == "There is no conversation #1 in your queue."
    assert bob.dm_bot("/queue") == "No chats are waiting."
    assert bob.dm_bot("/queue all").startswith("Only managers")
    assert "#1 @carol" in maria.dm_bot("/queue all")
    assert "#1 @carol" in desk.user("mona").dm_bot("/queue all")
    assert alice.dm_bot("/take 1").startswith("You took #1")
    # another department's chat does not exist for bob: the same answer as an unknown number
    assert bob.dm_bot("/close #1 nope") == "There is no conversation #1."
    assert bob.dm_bot("/close #99 nope") == "There is no conversation #99."
    assert maria.dm_bot("/close #1 closed by a manager") == "#1 is closed."


def test_channel_intake(make_chat: Any) -> None:
    config = {
        "departments": {"support": {"agents": ["bob"]}},
        "intake": {"channels": [{"room": "general", "department": "support"}]},
        "commands": {"rate_limit": {"count": 0}},
    }
    desk = make_chat(config=config)
    general = desk.server.room_by_name("general")["_id"]
    asked = desk.user("dave").say(general, "How do I reset my password?")
    answer = desk.user("dave").wait_reply(general, asked.id)
    assert answer.startswith("@dave, I opened a private conversation for you: omni-1-dave")
    conv = desk.bot.services.repo.open_for_contact("dave")
    assert (conv.department, conv.source) == ("support", "channel")
    dave = desk.user("dave")
    told = wait_until(lambda: dave.replies(dave.bot_dm), what="dave told in the DM")
    assert told[-1].startswith("Thanks! Your conversation #1 is in the private room omni-1-dave")
    # agents talking in the channel start nothing
    desk.user("bob").say(general, "Good morning everyone")
    desk.idle()
    assert desk.bot.services.repo.open_for_contact("bob") is None


@pytest.mark.parametrize("status", ["offline"])
def test_presence_offline_agents_get_no_chats(make_chat: Any, status: str) -> None:
    config = {
        "departments": {"support": {"agents": ["bob"], "routing": "auto"}},
        "commands": {"rate_limit": {"count": 0}},
    }
    desk = make_chat(config=config)
    desk.user("bob").dm_bot("/status on")
    desk.bot.app.on_presence(desk.user("bob").id, "bob", status)
    desk.idle()
    n = open_in(desk, "carol")
    assert desk.bot.services.repo.get(n).agent is None
    desk.bot.app.on_presence(desk.user("bob").id, "bob", "online")
    wait_until(lambda: desk.bot.services.repo.get(n).agent == "bob", what="routing on presence")
