"""Response metrics with a controllable clock: exact first/average response, queue time and
inactivity, on the domain, in the formatting, and through `/info` (rules §8.2, §8.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fakes import BASE_TIME
from test_toolkit_desk import Desk

from bot.domain import AGENT, CONTACT, new_conversation
from bot.services.info import duration, info_lines

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(seconds: float, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


def scripted():
    """Queued at 0, taken at 60; contact asks at 0, 200, 210; agent answers at 100, 110, 250."""
    conv, _ = new_conversation(1, "carol", at(0), by="carol", department="support")
    conv = conv.note_message(CONTACT, at(0))
    conv, _ = conv.take("alice", at(60))
    conv = conv.note_message(AGENT, at(100))  # first response: 100 s after the question
    conv = conv.note_message(AGENT, at(110))  # answers nothing new: not counted
    conv = conv.note_message(CONTACT, at(200))
    conv = conv.note_message(CONTACT, at(210))  # the last query counts (rules §8.3)
    conv = conv.note_message(AGENT, at(250))  # 40 s
    return conv


def test_domain_metrics_are_exact() -> None:
    conv = scripted()
    m = conv.metrics
    assert m.first_response_seconds == 100.0
    assert m.first_reaction_seconds == 40.0
    assert m.response_count == 2
    assert m.average_response_seconds == 70.0
    assert conv.queue_seconds(at(1000)) == 60.0
    assert conv.inactivity_seconds(at(300)) == 50.0
    conv = conv.note_message(CONTACT, at(320))
    assert conv.inactivity_seconds(at(330)) is None  # the contact is waiting


def test_queue_time_rules() -> None:
    conv, _ = new_conversation(2, "dave", at(0), by="dave")
    assert conv.queue_seconds(at(45)) == 45.0  # open and unserved: until now
    closed, _ = conv.close("maria", at(90), "spam", closer="agent")
    assert closed.queue_seconds(at(5000)) == 90.0  # closed unserved: until closed


def test_duration_format() -> None:
    assert [duration(s) for s in (None, 0, 59.9, 60, 65, 3599, 3600, 3725, 90000)] == [
        "—",
        "0s",
        "59s",
        "1m 00s",
        "1m 05s",
        "59m 59s",
        "1h 00m",
        "1h 02m",
        "1d 1h",
    ]


def test_info_lines_format() -> None:
    conv = scripted()
    lines = info_lines(conv, at(300), lambda v: v.strftime("%H:%M:%S") if v else "—")
    assert lines == [
        "Conversation #1 — serving",
        "Department: support",
        "Contact: @carol",
        "Agent: @alice",
        "Created at: 09:00:00",
        "Queue time: 1m 00s",
        "Taken at: 09:01:00",
        "Average response time: 1m 10s",
        "First response time: 1m 40s",
        "Inactivity time: 50s",
        "Topic: —",
        "Priority: none",
        "SLA: none",
        "Tags: —",
    ]
    closed, _ = conv.close("alice", at(400), "solved", closer="agent")
    text = "\n".join(info_lines(closed, at(9999), lambda v: "t"))
    assert "Chat duration: 6m 40s" in text and "Closed at: t" in text
    assert "Inactivity" not in text and "Closing comment: solved" in text


def test_info_through_the_chat(tmp_path) -> None:
    d = Desk(tmp_path)
    try:
        t = BASE_TIME
        d.dm("alice", "/status available")
        d.post("carol", d.chat.dm_room("carol"), "my printer is on fire", at=at(10, t))
        conv = d.wf.repo.open_for_contact("carol")
        rid = conv.rid
        d.post("alice", d.chat.dm_room("alice"), f"/take {conv.number}", at=at(70, t))
        d.post("alice", rid, "Hello, let me look", at=at(100, t))
        d.post("alice", rid, "Still looking", at=at(110, t))
        d.post("carol", rid, "thanks", at=at(200, t))
        d.post("carol", rid, "any news?", at=at(210, t))
        d.post("alice", rid, "Fixed it", at=at(250, t))
        d.clock.now = at(299, t)
        info = d.cmd("alice", rid, "/info")
        lines = info.splitlines()
        assert lines[0] == f"Conversation #{conv.number} — serving"
        assert "Contact: Carol Contact (@carol)" in lines
        assert "Queue time: 1m 00s" in lines
        assert "Created at: 2026-01-05 09:00 UTC" in lines
        assert "Average response time: 1m 05s" in lines  # (90 + 40) / 2
        assert "First response time: 1m 30s" in lines
        assert "Inactivity time: 50s" in lines  # the command itself is at 300
        # /info #N from the DM, and department isolation
        assert d.dm("maria", f"/info #{conv.number}").startswith(f"Conversation #{conv.number}")
        # another department's chat reads exactly like a number that does not exist
        assert d.dm("carl", f"/info #{conv.number}") == f"There is no conversation #{conv.number}."
        assert d.dm("carl", "/info #99") == "There is no conversation #99."
    finally:
        d.close()
