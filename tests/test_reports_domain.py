"""The supervisor's desk without a chat: the pure rules (periods, percentiles, the queue walked
back, scope, agent status) and the store's reads (what they return and that indexes bound them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bot.domain.desk import QueueEvent, Scope, agent_status, queue_series, scope_of
from bot.domain.permissions import AGENT, MANAGER, MONITOR, Viewer
from bot.domain.reports import Distribution, Facts, build_report, parse_period, percentile
from bot.store import Store
from bot.store.conversations import ConversationRepo
from bot.store.reports import ReportRepo

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


# --- percentiles -----------------------------------------------------------------------------
def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert percentile([7], 90) == 7
    assert percentile([], 50) is None
    assert Distribution.of([None, 60, 120, None]) == Distribution(2, 90, 114, 90)
    assert Distribution.of([None]) == Distribution()


# --- periods ---------------------------------------------------------------------------------
def test_periods_in_the_readers_zone() -> None:
    today = parse_period(None, NOW, PLUS2)
    assert (today.start, today.end) == (datetime(2026, 3, 10, 0, tzinfo=PLUS2), NOW)
    late = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # already the 11th at UTC+2
    yesterday = parse_period("yesterday", late, PLUS2)
    assert yesterday.start == datetime(2026, 3, 10, 0, tzinfo=PLUS2)
    assert yesterday.end == datetime(2026, 3, 11, 0, tzinfo=PLUS2)
    assert yesterday.label == "yesterday (2026-03-10)"
    week = parse_period("7d", NOW, UTC)
    assert (week.start, week.end, week.label) == (NOW - timedelta(days=7), NOW, "the last 7 days")
    span = parse_period("2026-02-01..2026-02-28", NOW, UTC)
    assert span.start == datetime(2026, 2, 1, tzinfo=UTC)
    assert span.end == datetime(2026, 3, 1, tzinfo=UTC)  # the last day is included


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("2026-02-30..2026-03-01", "has a date that does not exist"),
        ("2026-03-02..2026-03-01", "ends before it starts"),
        ("2024-01-01..2026-01-01", "is longer than 366 days"),
        ("0d", "Pick between 1d and 366d"),
        ("lastweek", "is not a period"),
    ],
)
def test_bad_periods_say_why(word: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_period(word, NOW, UTC)


# --- scope and status -----------------------------------------------------------------------------
def test_managers_see_everything_monitors_their_departments() -> None:
    manager = scope_of(Viewer("maria", frozenset({MANAGER})))
    assert manager.everything and manager.sees(None) and manager.store_filter() is None
    monitor = scope_of(Viewer("mona", frozenset({MONITOR}), frozenset({"sales"})), ["vip"])
    assert monitor == Scope(False, frozenset({"sales", "vip"}))
    assert monitor.sees("vip") and not monitor.sees("support") and not monitor.sees(None)
    assert monitor.store_filter() == ["sales", "vip"]
    assert scope_of(Viewer("bob", frozenset({AGENT}))).departments == frozenset()


@pytest.mark.parametrize(
    ("availability", "presence", "load", "limit", "status"),
    [
        ("available", "online", 1, 3, "available"),
        ("available", "online", 5, 0, "available"),  # no limit: never full
        ("available", "online", 3, 3, "busy"),
        ("available", "busy", 0, 3, "busy"),
        ("available", "away", 0, 3, "away"),
        ("not-available", "online", 0, 3, "away"),
        ("available", "offline", 2, 3, "offline"),
        ("not-available", "offline", 0, 3, "offline"),
    ],
)
def test_agent_status(availability: str, presence: str, load: int, limit: int, status: str) -> None:
    assert agent_status(availability, presence, load, limit) == status


# --- the queue over the last hours ----------------------------------------------------------------
def ev(number: int, minutes_ago: int, kind: str, src: str | None, dst: str | None,
       dept_now: str | None, **data: object) -> QueueEvent:  # fmt: skip
    return QueueEvent(number, NOW - timedelta(minutes=minutes_ago), kind, src, dst, data, dept_now)


def test_queue_walked_back_from_now_follows_forwards_between_departments() -> None:
    events = [
        ev(1, 170, "created", None, "queued", "support"),  # into sales' queue first …
        ev(2, 100, "created", None, "queued", "sales"),
        # … then sales forwards #1 to support's queue (fallback move)
        ev(
            1,
            80,
            "forwarded",
            "queued",
            "queued",
            "support",
            from_department="sales",
            to_department="support",
        ),
        ev(2, 70, "taken", "queued", "serving", "sales"),
        ev(3, 20, "created", None, "queued", "sales"),
    ]
    hour = timedelta(hours=1)
    sales = queue_series(events, 1, NOW, 3, hour, Scope(False, frozenset({"sales"})))
    # buckets end at 12:30, 13:30, 14:30: #1 waits in sales until 13:10, #2 from 12:50 to 13:20
    assert sales.length == [1, 0, 1]
    assert sales.arrivals == [1, 1, 1]
    support = queue_series(events, 1, NOW, 3, hour, Scope(False, frozenset({"support"})))
    assert support.length == [0, 1, 1]
    assert support.arrivals == [0, 0, 0]  # #1 arrived in sales
    everyone = queue_series(events, 2, NOW, 3, hour, Scope(True))
    assert everyone.length == [1, 1, 2] and sum(everyone.arrivals) == 3
    assert everyone.ends[-1] == NOW


# --- reports ---------------------------------------------------------------------------------
def test_report_counts_cohorts_and_splits_by_tag_and_local_hour() -> None:
    period = parse_period("today", NOW, PLUS2)
    at = NOW.replace(hour=8)  # 10:00 at UTC+2
    facts = [
        Facts(1, at, "support", "bob", state="closed", taken_at=at + timedelta(minutes=2),
              closed_at=at + timedelta(minutes=12), served=True, tags=("a", "b"),
              first_response_seconds=30, response_count=2, response_total_seconds=100),
        Facts(2, at, "sales", state="closed", closed_at=at + timedelta(minutes=5)),
        # opened yesterday, closed today: counts as closed only
        Facts(3, at - timedelta(days=1), "sales", "alice", state="closed", served=True,
              taken_at=at - timedelta(days=1), closed_at=at + timedelta(hours=1)),
    ]  # fmt: skip
    report = build_report(facts, period, NOW, PLUS2)
    total = report.total
    assert (total.opened, total.served, total.abandoned, total.closed) == (2, 1, 1, 3)
    assert total.measures["first_response"] == Distribution(1, 30, 30, 30)
    assert total.measures["response"] == Distribution(1, 50, 50, 50)
    assert total.measures["queue"].count == 2  # 2 min (taken), 5 min (closed unserved)
    assert total.measures["handle"] == Distribution(1, 600, 600, 600)
    assert total.scores["satisfaction"] == Distribution()
    assert {g.key: (g.opened, g.closed) for g in report.by_tag} == {"a": (1, 1), "b": (1, 1)}
    assert {g.key: (g.opened, g.closed) for g in report.by_agent} == {
        "bob": (1, 1),
        "(unserved)": (1, 1),
        "alice": (0, 1),
    }
    assert report.by_hour[10].opened == 2 and report.by_hour[11].closed == 1
    assert [f.number for f in report.rows] == [1, 2, 3]


# --- the store -------------------------------------------------------------------------------
@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    made = Store(store_url)
    yield made
    made.close()


@pytest.mark.both_stores
def test_store_reads_the_window_the_desk_and_the_events(store: Store) -> None:
    repo = ConversationRepo(store)
    old = NOW - timedelta(days=40)
    first, _ = repo.create("carol", old, by="carol", department="support")
    repo.commit(first.take("bob", old + timedelta(minutes=1)))
    repo.commit(repo.get(1).close("bob", NOW - timedelta(days=1), "late", tags=["x"]))
    repo.create("dave", old, by="dave", department="sales")  # opened and still waiting: outside
    repo.create("zoe", NOW - timedelta(hours=2), by="zoe", department="sales")
    reports = ReportRepo(store)

    month = reports.facts(NOW - timedelta(days=30), NOW)
    assert [(f.number, f.served, f.tags) for f in month] == [(1, True, ("x",)), (3, False, ())]
    assert [f.number for f in reports.facts(old, NOW, departments=["sales"])] == [2, 3]
    assert reports.facts(old, NOW, departments=["sales"], agent="bob") == []

    counts = {(c.department, c.state): c for c in reports.open_counts()}
    assert set(counts) == {("sales", "queued")}
    assert counts["sales", "queued"].count == 2
    assert counts["sales", "queued"].oldest_queued_at == old
    assert [e.conversation for e in reports.queue_events(NOW - timedelta(days=2))] == [1, 3]


def test_the_report_reads_are_bounded_by_indexes(store: Store) -> None:
    """No full scan of conversations or events (SQLite's plans): migration 19's indexes, and the
    queue index."""
    window = (
        "SELECT number FROM conversations WHERE (created_at >= :a AND created_at < :b) "
        "OR (closed_at >= :a AND closed_at < :b)"
    )
    desk = (
        "SELECT department, state, count(*), min(queued_at) FROM conversations "
        "WHERE state IN ('queued', 'serving', 'on_hold') GROUP BY department, state"
    )
    recent = "SELECT id FROM events WHERE at >= :a"
    with store.reading() as conn:
        for query, index in (
            (window, "ix_conversations_created_at"),
            (window, "ix_conversations_closed_at"),
            (desk, "ix_conversations_queue"),
            (recent, "ix_events_at"),
        ):
            plan = " ".join(
                str(row[-1])
                for row in conn.execute(sa.text("EXPLAIN QUERY PLAN " + query), {"a": 1, "b": 2})
            )
            assert index in plan, plan
            assert "SCAN conversations" not in plan and "SCAN events" not in plan, plan
