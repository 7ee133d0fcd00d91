"""When timers are due: pure functions of a conversation, the config and nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.config.schema import (
    AbandonedTimer,
    AgentOfflineTimer,
    QueueMaxWaitTimer,
    Timers,
    UnansweredTransferTimer,
)
from bot.domain import AGENT, CONTACT, Conversation, new_conversation
from bot.services.timers import policy

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)

TIMERS = Timers(
    on_hold_auto_close=60 * MIN,
    abandoned=AbandonedTimer(after=30 * MIN, action="close"),
    queue_max_wait=QueueMaxWaitTimer(after=10 * MIN, action="alert"),
    unanswered_transfer=UnansweredTransferTimer(after=5 * MIN),
    agent_offline=AgentOfflineTimer(after=2 * MIN, action="forward"),
)


def fresh() -> Conversation:
    conv, _ = new_conversation(1, "carol", T0, by="carol")
    return conv.note_message(CONTACT, T0)


def taken(at: datetime = T0 + MIN) -> Conversation:
    return fresh().take("alice", at).conversation


def test_queued_chat_arms_only_the_queue_timer() -> None:
    plan = policy.due(fresh(), TIMERS)
    assert set(plan) == {policy.QUEUE_MAX_WAIT}
    assert plan[policy.QUEUE_MAX_WAIT].at == T0 + 10 * MIN
    assert plan[policy.QUEUE_MAX_WAIT].action == "alert"
    # an alert is sent once per stay in the queue
    assert policy.due(fresh(), TIMERS, alerted=True) == {}


def test_take_arms_unanswered_then_the_agents_reply_arms_abandoned() -> None:
    conv = taken()
    plan = policy.due(conv, TIMERS)
    assert set(plan) == {policy.UNANSWERED}
    assert plan[policy.UNANSWERED].at == T0 + MIN + 5 * MIN
    replied = conv.note_message(AGENT, T0 + 3 * MIN)
    plan = policy.due(replied, TIMERS)
    assert set(plan) == {policy.ABANDONED}
    assert plan[policy.ABANDONED].at == T0 + 33 * MIN
    # the contact answers: the agent owes the reply now, nothing is armed
    assert policy.due(replied.note_message(CONTACT, T0 + 4 * MIN), TIMERS) == {}


def test_abandoned_counts_from_the_last_message_of_either_party() -> None:
    conv = taken().note_message(AGENT, T0 + 2 * MIN)
    conv = conv.note_message(CONTACT, T0 + 3 * MIN).note_message(AGENT, T0 + 9 * MIN)
    assert policy.due(conv, TIMERS)[policy.ABANDONED].at == T0 + 39 * MIN


def test_contact_who_never_wrote_after_the_greeting() -> None:
    # a chat with no contact message at all (e.g. started by an agent's greeting)
    conv, _ = new_conversation(2, "dan", T0, by="bot")
    conv = conv.take("alice", T0).conversation.note_message(AGENT, T0 + MIN)
    assert policy.due(conv, TIMERS)[policy.ABANDONED].at == T0 + 31 * MIN


def test_hold_arms_the_auto_close_and_only_that() -> None:
    conv = taken().note_message(AGENT, T0 + 2 * MIN)
    held = conv.hold("alice", T0 + 3 * MIN).conversation
    plan = policy.due(held, TIMERS)
    assert set(plan) == {policy.ON_HOLD}
    assert plan[policy.ON_HOLD].at == T0 + 63 * MIN
    resumed = held.resume("alice", T0 + 4 * MIN).conversation
    assert set(policy.due(resumed, TIMERS)) == {policy.ABANDONED}


def test_zero_and_none_turn_timers_off() -> None:
    off = Timers()
    assert policy.due(taken(), off) == {}
    none = replace(
        TIMERS,
        abandoned=AbandonedTimer(after=30 * MIN, action="none"),
        queue_max_wait=QueueMaxWaitTimer(after=10 * MIN, action="none"),
    )
    assert policy.due(fresh(), none) == {}
    assert policy.due(taken().note_message(AGENT, T0 + 2 * MIN), none) == {}
    assert policy.agent_offline_due(T0, off) is None
    assert policy.agent_offline_due(T0, TIMERS).at == T0 + 2 * MIN


def test_closed_conversations_arm_nothing() -> None:
    closed = taken().close("alice", T0 + 2 * MIN, "done").conversation
    assert policy.due(closed, TIMERS) == {}


def test_requeue_restarts_the_queue_wait() -> None:
    conv = taken().requeue("alice", T0 + 20 * MIN).conversation
    assert policy.due(conv, TIMERS)[policy.QUEUE_MAX_WAIT].at == T0 + 30 * MIN


def test_job_ids_round_trip() -> None:
    assert policy.job_id(policy.ABANDONED, 12) == "abandoned:12"
    assert policy.parse_job_id("abandoned:12") == ("abandoned", "12")
    assert policy.parse_job_id("agent_offline:alice") == ("agent_offline", "alice")
    assert policy.parse_job_id("nonsense") is None
    assert policy.parse_job_id("other:1") is None
