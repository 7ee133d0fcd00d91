"""Queue order by priority, SLA due time and arrival (rules §11), SLA due/warning/breach times,
and the typed satisfaction answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.config.schema import Timers
from bot.domain import State, new_conversation, ordered, position
from bot.domain.conversation import Metrics
from bot.domain.queue import order_key
from bot.domain.sla import PRIORITIES, SlaPolicy, breach_due, in_breach, warning_due
from bot.services.satisfaction import parse_rating
from bot.services.timers.policy import SLA_BREACH, SLA_WARNING, due

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
FAST = SlaPolicy("fast", 5)
SLOW = SlaPolicy("slow", 60)


def chat(number, *, at=0, priority=None, sla=None, department="Sales"):
    when = T0 + timedelta(minutes=at)
    conv, _ = new_conversation(
        number,
        f"c{number}",
        when,
        by="bot",
        department=department,
        sla=sla.name if sla else None,
        sla_due_at=sla.due_at(when) if sla else None,
    )
    return replace(conv, priority=priority)


def test_priority_names_and_weights_follow_rocket_chat():
    assert PRIORITIES == ("highest", "high", "medium", "low", "lowest")
    weights = [chat(1, priority=p).priority_weight for p in (*PRIORITIES, None)]
    assert weights == [1, 2, 3, 4, 5, 99]


def test_timestamp_order_is_arrival_only():
    chats = [chat(1, at=2, priority="highest"), chat(2, at=0), chat(3, at=1, sla=FAST)]
    assert [c.number for c in ordered(chats, "timestamp")] == [2, 3, 1]


def test_priority_then_sla_due_then_arrival():
    chats = [
        chat(1, at=0),  # no priority, no SLA: last of all
        chat(2, at=1, priority="low"),
        chat(3, at=2, priority="high", sla=SLOW),  # due 13:02
        chat(4, at=3, priority="high", sla=FAST),  # due 12:08: before #3 in the same weight
        chat(5, at=4, priority="high"),  # same weight, no SLA: after both
        chat(6, at=5, priority="highest"),
        chat(7, at=6, priority="low"),  # same weight as #2, later arrival
    ]
    assert [c.number for c in ordered(chats, "priority")] == [6, 4, 3, 5, 2, 7, 1]
    assert position(chats[4], chats, "priority") == 4


def test_sla_order_is_due_time_then_priority_then_arrival():
    chats = [
        chat(1, at=0, sla=SLOW),  # due 13:00
        chat(2, at=10, sla=FAST),  # due 12:15
        chat(3, at=10, sla=FAST, priority="high"),  # same due, higher priority: first
        chat(4, at=0, priority="highest"),  # no SLA: after every due time
        chat(5, at=1),
    ]
    assert [c.number for c in ordered(chats, "sla")] == [3, 2, 1, 4, 5]


def test_only_queued_chats_are_ordered_and_unknown_mechanism_refused():
    served = replace(chat(1, priority="highest"), state=State.SERVING, agent="alice")
    assert ordered([served, chat(2)], "priority")[0].number == 2
    with pytest.raises(ValueError):
        order_key("fifo")


def test_breach_and_warning_times():
    conv = chat(1, sla=FAST)
    assert breach_due(conv) == T0 + timedelta(minutes=5)
    assert warning_due(conv, timedelta(minutes=2)) is None  # nobody serves it yet
    served = replace(conv, state=State.SERVING, agent="alice", taken_at=T0)
    assert warning_due(served, timedelta(minutes=2)) == T0 + timedelta(minutes=3)
    assert warning_due(served, timedelta(0)) is None  # warnings off
    assert not in_breach(served, T0 + timedelta(minutes=4))
    assert in_breach(served, T0 + timedelta(minutes=5))
    answered = replace(served, metrics=Metrics(first_response_at=T0 + timedelta(minutes=1)))
    assert breach_due(answered) is None and not in_breach(answered, T0 + timedelta(hours=1))
    recorded = replace(served, sla_breached_at=T0 + timedelta(minutes=5))
    assert breach_due(recorded) is None and in_breach(recorded, T0 + timedelta(minutes=6))
    assert breach_due(chat(2)) is None  # no SLA


def test_timer_policy_arms_warning_once_and_breach():
    served = replace(chat(1, sla=FAST), state=State.SERVING, agent="alice", taken_at=T0)
    plan = due(served, Timers(), sla_warn_before=timedelta(minutes=1))
    assert plan[SLA_WARNING].at == T0 + timedelta(minutes=4)
    assert plan[SLA_BREACH].at == T0 + timedelta(minutes=5)
    again = due(served, Timers(), sla_warn_before=timedelta(minutes=1), sla_warned=True)
    assert SLA_WARNING not in again and SLA_BREACH in again
    closed = replace(served, state=State.CLOSED)
    assert due(closed, Timers(), sla_warn_before=timedelta(minutes=1)) == {}


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("4", (4, None)),
        (" 5 ", (5, None)),
        ("4 great help", (4, "great help")),
        ("3/5 slow but fine", (3, "slow but fine")),
        ("2 - rude", (2, "rude")),
        ("1: never again", (1, "never again")),
        ("5!", (5, None)),
        ("0", None),
        ("6", None),
        ("45", None),
        ("4x", None),
        ("hello", None),
        ("", None),
        ("I need help with 4 things", None),
    ],
)
def test_typed_rating(text, answer):
    assert parse_rating(text) == answer


def _policies(intake_sla=None):
    from chat import config_from_dict

    from bot.services.sla import SlaPolicies

    data = {
        "server": {"url": "http://127.0.0.1:1", "username": "omnicat", "password": "x"},
        "departments": {
            "Sales": {"agents": ["a"], "sla": "slow"},
            "Billing": {"agents": ["b"], "sla": "fast"},
            "Support": {"agents": ["d"], "sla": "mid"},
            "Plain": {"agents": ["c"]},
        },
        "sla": {
            "policies": {
                "fast": {"due_minutes": 5},
                "mid": {"due_minutes": 30},
                "slow": {"due_minutes": 60},
            }
        },
    }
    if intake_sla:
        data["intake"] = {"dm": {"sla": intake_sla}}
    return SlaPolicies(config_from_dict(data))


def test_a_department_forward_follows_the_targets_default_sla():
    policies = _policies()
    on_default = chat(1, sla=SLOW)  # Sales' default
    assert policies.after_forward(on_default, "Billing") == ("fast", T0 + timedelta(minutes=5))
    # no SLA (a department without one) into one with a policy: it gets that promise
    assert policies.after_forward(chat(2, department="Plain"), "Billing") == (
        "fast",
        T0 + timedelta(minutes=5),
    )
    # a target without an SLA keeps the promise made; the same policy changes nothing
    assert policies.after_forward(on_default, "Plain") is None
    assert policies.after_forward(chat(3, sla=FAST, department="Plain"), "Billing") is None
    # set by hand (not Sales' default): stays; already breached: stays
    assert policies.after_forward(on_default, "Support") == ("mid", T0 + timedelta(minutes=30))
    assert policies.after_forward(chat(4, sla=FAST), "Support") is None
    breached = replace(on_default, sla_breached_at=T0 + timedelta(minutes=60))
    assert policies.after_forward(breached, "Billing") is None
    # the intake's policy outranks every department's: a forward keeps it
    assert _policies(intake_sla="slow").after_forward(chat(6, sla=SLOW), "Billing") is None


@pytest.mark.parametrize(
    ("feedback", "answer"),
    [
        ({"satisfaction": "4"}, (4, None)),
        ({"satisfaction": "1", "additionalFeedback": "  too slow  "}, (1, "too slow")),
        ({"agentKnowledge": "5", "additionalFeedback": "nice"}, None),  # no chat rating
        ({"satisfaction": "9"}, None),
        ({}, None),
    ],
)
def test_survey_rating(feedback, answer):
    from bot.services.satisfaction import survey_rating

    assert survey_rating(feedback) == answer
