"""The conversation state machine: every transition and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import AGENT, CONTACT, Conversation, Refused, State, new_conversation

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def queued(number: int = 7, department: str | None = "Sales") -> Conversation:
    conv, _ = new_conversation(number, "carol", T0, by="carol", department=department)
    return conv


def serving(agent: str = "alice", **kw) -> Conversation:
    conv, _ = queued(**kw).take(agent, at(10))
    return conv


def replied(agent: str = "alice") -> Conversation:
    return serving(agent).note_message(CONTACT, at(11)).note_message(AGENT, at(20))


def held() -> Conversation:
    conv, _ = replied().hold("alice", at(30))
    return conv


def closed() -> Conversation:
    conv, _ = serving().close("alice", at(40), "done")
    return conv


def refusal(fn, *args, **kw) -> Refused:
    with pytest.raises(Refused) as info:
        fn(*args, **kw)
    return info.value


def test_new_conversation_is_queued_with_created_event():
    conv, event = new_conversation(1, "carol", T0, by="carol", department="Sales")
    assert (conv.state, conv.revision, conv.queued_at) == (State.QUEUED, 1, T0)
    assert (event.kind, event.from_state, event.to_state) == ("created", None, "queued")


def test_take_moves_queued_to_serving_and_bumps_revision():
    conv = queued()
    new, event = conv.take("alice", at(10))
    assert new.state is State.SERVING and new.agent == "alice" and new.taken_at == at(10)
    assert new.revision == conv.revision + 1
    assert (event.kind, event.actor, event.from_state, event.to_state) == (
        "taken",
        "alice",
        "queued",
        "serving",
    )
    assert conv.state is State.QUEUED  # immutable


def test_take_refused_when_already_taken_names_the_winner():
    r = refusal(serving("alice").take, "bob", at(11))
    assert r.reason == "Conversation #7 was already taken by @alice."
    assert r.key == "error-inquiry-taken"


def test_take_refused_for_own_chat_and_closed_chat():
    assert refusal(serving("alice").take, "alice", at(11)).key == "error-already-serving"
    assert refusal(closed().take, "bob", at(50)).reason == "Conversation #7 is already closed."


def test_assign_is_a_routed_take_and_may_move_department():
    new, event = queued().assign("bob", at(5), by="omnicat", department="Billing")
    assert (new.agent, new.department, event.kind, event.actor) == (
        "bob",
        "Billing",
        "assigned",
        "omnicat",
    )
    same, _ = queued().assign("bob", at(5), by="omnicat")
    assert same.department == "Sales"


def test_requeue_returns_to_queue_and_records_serving_agent():
    new, event = serving().requeue("manager", at(30), "wrong team")
    assert new.state is State.QUEUED and new.agent is None and new.queued_at == at(30)
    assert new.previous_agents == ("alice",)
    assert event.comment == "wrong team" and event.data["transferred_by"] == "alice"


def test_requeue_refusals():
    r = refusal(queued().requeue, "alice", at(1))
    assert r.reason == "Conversation #7 is already in the queue."
    assert refusal(held().requeue, "alice", at(40)).key == "error-room-onHold"
    assert refusal(closed().requeue, "alice", at(50)).key == "error-room-already-closed"


def test_forward_to_agent():
    new, event = serving().forward_to_agent("bob", "alice", at(30), "billing question")
    assert new.agent == "bob" and new.previous_agents == ("alice",) and new.state is State.SERVING
    assert event.data == {"scope": "agent", "from_agent": "alice", "to_agent": "bob"}


def test_forward_to_agent_refusals():
    assert refusal(serving().forward_to_agent, "alice", "alice", at(30)).key == (
        "error-selected-agent-room-agent-are-same"
    )
    r = refusal(serving().forward_to_agent, "bob", "alice", at(30), target_available=False)
    assert (r.reason, r.key) == ("@bob is not available right now.", "error-user-is-offline")
    assert refusal(held().forward_to_agent, "bob", "alice", at(40)).key == "error-room-onHold"
    assert refusal(closed().forward_to_agent, "bob", "alice", at(50)).key == (
        "error-room-already-closed"
    )


def test_forward_to_department_routed_or_queued():
    routed, event = serving().forward_to_department("Billing", "alice", at(30), agent="dave")
    assert (routed.state, routed.department, routed.agent) == (State.SERVING, "Billing", "dave")
    assert event.data["to_department"] == "Billing" and event.data["to_agent"] == "dave"
    waiting, _ = serving().forward_to_department("Billing", "alice", at(30))
    assert (waiting.state, waiting.department, waiting.agent) == (State.QUEUED, "Billing", None)
    assert waiting.queued_at == at(30) and waiting.previous_agents == ("alice",)


def test_forward_to_department_refusals():
    conv = serving()
    assert refusal(conv.forward_to_department, "Sales", "alice", at(30)).key == (
        "error-forwarding-chat-same-department"
    )
    r = refusal(conv.forward_to_department, "Legal", "alice", at(30), allowed_targets=["Billing"])
    assert r.key == "error-forwarding-department-target-not-allowed"
    assert r.reason == "Sales can't forward to Legal; allowed: Billing."
    assert refusal(held().forward_to_department, "Billing", "alice", at(40)).key == (
        "error-room-onHold"
    )


def test_hold_after_agent_reply():
    new, event = replied().hold("alice", at(30))
    assert new.state is State.ON_HOLD and new.agent == "alice" and new.held_at == at(30)
    assert not new.counts_for_capacity
    assert event.kind == "held"


def test_hold_refusals_in_rocket_chat_order():
    contact_last = serving().note_message(CONTACT, at(11))
    assert refusal(contact_last.hold, "alice", at(12)).reason == (
        "You can place a chat on hold only after you've replied to the contact."
    )
    assert refusal(held().hold, "alice", at(41)).reason == "Conversation #7 is already on hold."
    assert refusal(queued().hold, "alice", at(1)).key == (
        "error-unserved-rooms-cannot-be-placed-onhold"
    )
    assert refusal(closed().hold, "alice", at(50)).key == "error-room-already-closed"
    # with the engagement-only setting off, the contact may have written last
    new, _ = contact_last.hold("alice", at(12), agent_engagement_only=False)
    assert new.state is State.ON_HOLD


def test_resume_same_agent():
    new, event = held().resume("alice", at(50))
    assert new.state is State.SERVING and new.agent == "alice" and new.held_at is None
    assert event.kind == "resumed" and event.data["automatic"] is False


def test_resume_refusals():
    assert refusal(serving().resume, "alice", at(30)).reason == "Conversation #7 is not on hold."
    assert refusal(closed().resume, "alice", at(50)).key == "error-room-already-closed"


def test_resume_elsewhere_to_agent_or_queue():
    other, _ = held().resume_elsewhere("omnicat", at(60), "bob")
    assert (other.state, other.agent, other.previous_agents) == (State.SERVING, "bob", ("alice",))
    back, _ = held().resume_elsewhere("omnicat", at(60), None)
    assert (back.state, back.agent, back.queued_at) == (State.QUEUED, None, at(60))


def test_close_records_everything():
    conv = serving()
    new, event = conv.close(
        "alice", at(100), "  solved  ", tags=["billing", "refund"], pdf=True, email="c@x.org"
    )
    assert new.state is State.CLOSED and new.closed_at == at(100) and new.closed_by == "alice"
    assert new.comment == "solved" and new.tags == ("billing", "refund")
    assert new.transcript_pdf and new.transcript_email == "c@x.org" and new.closer == AGENT
    assert event.data["closer"] == "agent" and event.comment == "solved"
    assert new.chat_seconds(at(999)) == 100 and new.service_seconds(at(999)) == 90


def test_close_from_queue_and_hold():
    for conv in (queued(), held()):
        new, _ = conv.close("manager", at(100), "abandoned")
        assert new.state is State.CLOSED


def test_close_refusals():
    assert refusal(closed().close, "alice", at(50), "x").reason == (
        "Conversation #7 is already closed."
    )
    r = refusal(serving().close, "alice", at(50), "   ")
    assert r.key == "error-comment-is-required"
    new, _ = serving().close("alice", at(50), None, require_comment=False)
    assert new.comment is None


def test_close_refusals_name_the_command_only_as_given():
    """The domain knows no command prefix: the workflow passes the close command as typed."""
    conv = serving()
    assert refusal(conv.close, "alice", at(50), None).reason == (
        "Please add a comment to close the conversation."
    )
    assert refusal(conv.close, "alice", at(50), None, command="!omni close").reason == (
        "Please add a comment to close the conversation, e.g. !omni close solved by reset."
    )
    kw: dict = {"require_tags": True, "closing_tags": ["a", "b"]}
    assert refusal(conv.close, "alice", at(50), "ok", **kw).reason == (
        "Tags must be assigned before closing (one of: a, b)."
    )
    assert refusal(conv.close, "alice", at(50), "ok", command="/close", **kw).reason == (
        "Tags must be assigned before closing: add tags=… (one of: a, b)."
    )


def test_close_required_tags():
    conv = serving()
    r = refusal(conv.close, "alice", at(50), "ok", require_tags=True, closing_tags=["a", "b"])
    assert r.key == "error-tags-must-be-assigned-before-closing-chat"
    assert "one of: a, b" in r.reason
    r = refusal(
        conv.close, "alice", at(50), "ok", tags=["zzz"], require_tags=True, closing_tags=["a"]
    )
    assert r.key == "error-tags-must-be-assigned-before-closing-chat"
    ok, _ = conv.close("alice", at(50), "ok", tags=["a"], require_tags=True, closing_tags=["a"])
    assert ok.tags == ("a",)
    # tags already on the conversation count
    tagged, _ = conv.update_info("alice", at(45), add_tags=["b"])
    ok, _ = tagged.close("alice", at(50), "ok", require_tags=True, closing_tags=["a", "b"])
    assert ok.tags == ("b",)
    # the bot's automatic closes are never blocked by the tag or comment rules
    auto, _ = conv.close("omnicat", at(50), None, closer="bot", require_tags=True)
    assert auto.state is State.CLOSED


def test_invite_and_refusal():
    new, event = serving().invite("bob", "alice", at(30))
    assert new.invited == ("bob",) and new.members() == ("alice", "bob")
    assert event.kind == "invited" and new.state is State.SERVING
    assert refusal(new.invite, "bob", "alice", at(31)).key == "error-already-in-room"
    assert refusal(new.invite, "alice", "alice", at(31)).key == "error-already-in-room"


def test_update_info_and_priority_validation():
    new, _ = serving().update_info(
        "alice", at(30), topic="login", priority="high", add_tags=["x", "y"]
    )
    assert (new.topic, new.priority, new.tags, new.priority_weight) == (
        "login",
        "high",
        ("x", "y"),
        2,
    )
    again, _ = new.update_info("alice", at(31), priority=None, remove_tags=["x"])
    assert (again.priority, again.tags, again.topic) == (None, ("y",), "login")
    assert refusal(new.update_info, "alice", at(31), priority="urgent").key == (
        "error-invalid-priority"
    )


def test_request_transcript_is_kept_until_close():
    new, _ = serving().request_transcript("alice", at(30), email="c@x.org")
    done, _ = new.close("alice", at(40), "bye", pdf=True)
    assert done.transcript_email == "c@x.org" and done.transcript_pdf


def test_metrics_follow_rocket_chat_rules():
    conv = serving()  # taken at 10s
    conv = conv.note_message(CONTACT, at(12))
    assert conv.metrics.waiting_response and conv.metrics.last_message_by == CONTACT
    conv = conv.note_message(AGENT, at(22))  # first response: 10 s
    conv = conv.note_message(AGENT, at(25))  # no new contact message: not counted
    conv = conv.note_message(CONTACT, at(30))
    conv = conv.note_message(CONTACT, at(35))
    conv = conv.note_message(AGENT, at(60))  # answers the contact's 35 s message: 25 s
    conv = conv.note_message(AGENT, at(70), automatic=True)  # ignored
    m = conv.metrics
    assert m.first_response_at == at(22) and m.first_response_seconds == 10
    assert m.first_reaction_seconds == 12
    assert (m.response_count, m.response_total_seconds, m.average_response_seconds) == (
        2,
        35,
        17.5,
    )
    assert not m.waiting_response and m.last_agent_reply_at == at(60)
    assert conv.inactivity_seconds(at(100)) == 40
    assert conv.revision == serving().revision  # metrics are not transitions
    with pytest.raises(ValueError):
        conv.note_message("bot", at(1))


def test_queue_time():
    conv = queued()
    assert conv.queue_seconds(at(5)) == 5
    assert serving().queue_seconds(at(500)) == 10
    abandoned, _ = conv.close("omnicat", at(30), "gone", closer="bot")
    assert abandoned.queue_seconds(at(500)) == 30
