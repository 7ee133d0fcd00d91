"""Migration 21 on a database made before it, the SLA breach record and the rating rows.
Runs on SQLite and on PostgreSQL (`both_stores`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.domain.sla import SlaPolicy
from bot.store import Store
from bot.store.conversations import ConversationRepo
from bot.store.ratings import RatingRepo

pytestmark = pytest.mark.both_stores

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
SLA_COLUMNS = {"sla", "sla_due_at", "sla_breached_at"}


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


def columns(store: Store) -> set[str]:
    return {c["name"] for c in sa.inspect(store.engine).get_columns("conversations")}


def test_migration_21_upgrades_a_database_made_before_it(store):
    repo = ConversationRepo(store)
    with store.transaction() as conn:
        # the database as migration 19 left it
        conn.execute(sa.text("DROP TABLE conversation_ratings"))
        for name in SLA_COLUMNS:
            conn.execute(sa.text(f"ALTER TABLE conversations DROP COLUMN {name}"))
        conn.execute(sa.text("DELETE FROM schema_migrations WHERE version = 21"))
    assert not SLA_COLUMNS & columns(store)
    with store.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO conversations (number, contact_username, state, source, "
                "previous_agents, invited, tags, created_at, revision, updated_at, "
                "transcript_pdf, m_response_count, m_response_total_seconds, "
                "m_waiting_response) VALUES (7, 'carol', 'closed', 'dm', '[]', '[]', '[]', "
                ":at, 3, :at, :no, 0, 0, :yes)"
            ),
            {"at": T0.isoformat(), "no": False, "yes": True},
        )
    assert store.upgrade() == ["m0021_sla_csat"]
    assert columns(store) >= SLA_COLUMNS
    old = repo.get(7)
    assert old is not None and old.sla is None and old.sla_due_at is None
    assert RatingRepo(store).get(7) is None
    assert store.upgrade() == []


def test_sla_breach_is_recorded_once_and_not_after_an_answer(store):
    repo = ConversationRepo(store)
    conv, _ = repo.create("carol", T0, by="carol", sla=SlaPolicy("fast", 5))
    assert conv.sla == "fast" and conv.sla_due_at == T0 + timedelta(minutes=5)
    assert repo.get(conv.number).sla_due_at == T0 + timedelta(minutes=5)
    due = T0 + timedelta(minutes=5)
    assert repo.record_sla_breach(conv.number, due, actor="omnicat")
    assert not repo.record_sla_breach(conv.number, due, actor="omnicat")
    assert repo.get(conv.number).sla_breached_at == due
    kinds = [e.kind for e in store.events(conv.number)]
    assert kinds.count("sla-breached") == 1
    # an answered chat never breaches, and neither does one without an SLA
    other, _ = repo.create("dave", T0, by="dave", sla=SlaPolicy("fast", 5))
    repo.save_metrics(
        type(other)(**{**_fields(other), "metrics": _answered(other, T0 + timedelta(minutes=1))})
    )
    assert not repo.record_sla_breach(other.number, due, actor="omnicat")
    plain, _ = repo.create("zoe", T0, by="zoe")
    assert not repo.record_sla_breach(plain.number, due, actor="omnicat")


def _fields(conv):
    from dataclasses import fields

    return {f.name: getattr(conv, f.name) for f in fields(conv)}


def _answered(conv, at):
    from dataclasses import replace

    return replace(conv.metrics, first_response_at=at, first_response_seconds=60.0)


def test_ratings_ask_once_pending_and_rate_once(store):
    repo = ConversationRepo(store)
    ratings = RatingRepo(store)
    conv, _ = repo.create("carol", T0, by="carol")
    assert ratings.ask(conv.number, "carol", T0)
    assert not ratings.ask(conv.number, "carol", T0 + timedelta(minutes=1))  # once
    assert ratings.pending("carol", T0 - timedelta(hours=24)).conversation == conv.number
    assert ratings.pending("carol", T0 + timedelta(seconds=1)) is None  # too old
    assert ratings.pending("dave", T0 - timedelta(hours=24)) is None
    assert ratings.rate(conv.number, 4, "great help", T0 + timedelta(minutes=2))
    assert not ratings.rate(conv.number, 1, None, T0 + timedelta(minutes=3))  # answered
    got = ratings.get(conv.number)
    assert (got.rating, got.comment) == (4, "great help")
    assert ratings.pending("carol", T0 - timedelta(hours=24)) is None
    assert ratings.for_conversations([conv.number, 999]) == {conv.number: got}


def test_insert_ignore_says_whether_it_inserted(store):
    """On PostgreSQL too (psycopg's rowcount for a skipped insert is -1, not 0)."""
    from bot.store.engine import insert_ignore
    from bot.store.schema_runtime import kv

    with store.transaction() as conn:
        assert insert_ignore(conn, kv, {"key": "k", "value": "1"}, ["key"])
    with store.transaction() as conn:
        assert not insert_ignore(conn, kv, {"key": "k", "value": "2"}, ["key"])
    assert store.kv_get("k") == "1"
