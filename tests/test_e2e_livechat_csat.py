"""Satisfaction for livechat (issue 19) end to end: the visitor rates as on Rocket.Chat, with the
widget's survey (`POST livechat/room.survey`, the Livechat SDK's `chatSurvey`; the stock widget
1.13 has no survey form, so the visitor here makes the call it makes), and the bot reads the
closed room's `surveyFeedback` on a timer into the ratings the DM contacts' answers go to, so
`/info` and `/report` count livechat too.

One clock the test moves (as in `test_e2e_sla_csat.py`); the timer service's due jobs are fired
on it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from chat import Chat, ChatVisitor, wait_until
from scripted_day import scripted_desk
from test_e2e_livechat import CONFIG as LIVECHAT_CONFIG
from test_e2e_livechat import available, conversation_of, livechat_seed, ready_desk, start

from bot.domain import State

CONFIG = {
    **LIVECHAT_CONFIG,
    "departments": {
        "support": {"agents": ["bob", "erin"], "csat": True},
        "sales": {"agents": ["alice"]},  # csat off (the default)
    },
    "csat": {"window": "2h", "survey_poll": "1m"},
}


@pytest.fixture
def desk(make_chat: Any, monkeypatch: Any) -> Any:
    chat = scripted_desk(
        make_chat, monkeypatch, config=CONFIG, seed=livechat_seed(), fire_timers=True
    )
    ready_desk(chat)
    return chat


def served_and_closed(desk: Chat, text: str, department: str = "dep-support") -> ChatVisitor:
    """A visitor's chat, taken by bob (or alice in sales), answered and closed in the console."""
    visitor = start(desk, text, department=department)
    n = conversation_of(desk, visitor.rid).number
    agent = desk.user("bob" if department == "dep-support" else "alice")
    assert f"#{n}" in agent.dm_bot(f"/take {n}")
    agent.say(visitor.rid, "Here is the fix")
    visitor.wait_for("Here is the fix")
    assert "closed" in agent.dm_bot(f"/close #{n} fixed")
    repo = desk.bot.services.repo
    wait_until(lambda: repo.get(n).state is State.CLOSED, 10, f"#{n} closed")
    wait_until(lambda: not desk.server.room(visitor.rid).get("open"), 10, "the room closed")
    desk.idle()  # the close's follow-ups (the satisfaction ask among them) have run
    return visitor


def test_a_visitor_rates_with_the_survey_and_the_report_counts_it(desk: Any) -> None:
    at = desk.at
    bob, alice, maria = desk.user("bob"), desk.user("alice"), desk.user("maria")
    available(bob, alice)
    ratings = desk.bot.services.satisfaction.ratings
    at(0)
    vera = served_and_closed(desk, "My router blinks red")
    n = conversation_of(desk, vera.rid).number
    asked = ratings.get(n)
    assert asked is not None and asked.rating is None and asked.contact_username == vera.username
    assert "Satisfaction: asked, no answer yet" in bob.dm_bot(f"/info #{n}").splitlines()
    assert f"csat_survey:{n}" in desk.bot.timers.jobs()

    # nothing yet at the first read: the next one is armed (at least `survey_poll` later)
    assert ("csat_survey", str(n), "waiting") in at(60)
    assert desk.bot.timers.jobs()[f"csat_survey:{n}"] >= desk.t0 + timedelta(seconds=120)

    # the room is closed: the visitor cannot write, but rates with the survey
    refused = vera.session.post(
        vera.base + "livechat/message", json={"token": vera.token, "rid": vera.rid, "msg": "5"}
    )
    assert refused.status_code == 400 and refused.json()["error"] == "room-closed"
    answer = vera.survey(
        satisfaction="4", agentKnowledge="5", additionalFeedback="quick and friendly"
    )
    assert answer["data"]["satisfaction"] == "4"
    assert ("csat_survey", str(n), "rated") in at(600)
    rated = ratings.get(n)
    assert (rated.rating, rated.comment) == (4, "quick and friendly")
    assert f"csat_survey:{n}" not in desk.bot.timers.jobs()  # nothing more to read
    # bob hears it; /info shows it; a later survey changes nothing (the first answer counts)
    wait_until(
        lambda: any(
            f"@{vera.username} rated #{n} 4/5 ★★★★☆: quick and friendly" in t
            for t in desk.bot_messages(bob.bot_dm)
        ),
        10,
        "bob told of the rating",
    )
    assert 'Satisfaction: 4/5 "quick and friendly"' in bob.dm_bot(f"/info #{n}").splitlines()
    vera.survey(satisfaction="1")
    assert [f for f in at(4000) if f[0] == "csat_survey"] == []
    assert ratings.get(n).rating == 4

    # a visitor who rated before the close is read at the first ring
    at(5000)
    otto = start(desk, "Invoice question")
    m = conversation_of(desk, otto.rid).number
    assert f"#{m}" in bob.dm_bot(f"/take {m}")
    bob.say(otto.rid, "Sent it again")
    otto.wait_for("Sent it again")
    otto.survey(satisfaction="2")
    assert "closed" in bob.dm_bot(f"/close #{m} resent")
    wait_until(lambda: desk.bot.services.repo.get(m).state is State.CLOSED, 10, f"#{m} closed")
    assert ("csat_survey", str(m), "rated") in at(5060)
    assert (ratings.get(m).rating, ratings.get(m).comment) == (2, None)

    # a visitor who never rates: read less often, then given up when the window has passed
    at(6000)
    pia = served_and_closed(desk, "Password reset")
    k = conversation_of(desk, pia.rid).number
    reads = [o for t in range(6060, 6000 + 2 * 3600 + 1, 60) for kd, s, o in at(t) if s == str(k)]
    assert reads[-1] == "expired" and set(reads[:-1]) == {"waiting"}, reads
    assert 4 < len(reads) < 40, reads  # backed off: not one read a minute for two hours
    assert ratings.get(k).rating is None
    assert f"csat_survey:{k}" not in desk.bot.timers.jobs()

    # sales has no CSAT: not asked, nothing armed
    sam = served_and_closed(desk, "Price list?", department="dep-sales")
    s = conversation_of(desk, sam.rid).number
    assert ratings.get(s) is None and f"csat_survey:{s}" not in desk.bot.timers.jobs()
    assert alice.dm_bot(f"/info #{s}").count("Satisfaction") == 0

    # the supervisor's report counts the livechat ratings like the DM ones
    report = maria.dm_bot("/report today")
    assert "Satisfaction: p50 3 · average 3.00 (2 ratings)" in report.splitlines(), report


def test_the_survey_read_survives_a_restart(desk: Any) -> None:
    """The read is a job in the timers' store: a bot restarted after the close (the visitor
    rating while it was down) still reads the survey, and the reconciler's sweep of closed
    chats' timers leaves it armed."""
    at = desk.at
    available(desk.user("bob"))
    at(0)
    vera = served_and_closed(desk, "Where is my parcel?")
    n = conversation_of(desk, vera.rid).number
    desk.stop_bot()
    vera.survey(satisfaction="5", additionalFeedback="found it")
    desk.start_bot()
    assert f"csat_survey:{n}" in desk.bot.timers.jobs()
    assert ("csat_survey", str(n), "rated") in at(60)
    rated = desk.bot.services.satisfaction.ratings.get(n)
    assert (rated.rating, rated.comment) == (5, "found it")
