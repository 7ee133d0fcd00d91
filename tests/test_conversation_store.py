"""ConversationRepo on a real SQLite file and on PostgreSQL (`both_stores`): round trips,
compare-and-set, and the take race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import AGENT, CONTACT, Refused, Roster, State
from bot.store.conversations import ConversationRepo
from bot.store.store import Store

T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.both_stores


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def store(store_url):
    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def repo(store):
    return ConversationRepo(store)


def test_create_allocates_numbers_and_refuses_a_second_open_chat(repo):
    a, created = repo.create("carol", T0, by="carol", department="Sales", contact_name="Carol")
    b, _ = repo.create("dave", at(1), by="dave")
    assert (a.number, b.number, created) == (1, 2, True)
    again, created = repo.create("carol", at(2), by="carol")
    assert (again.number, created) == (1, False)
    assert repo.get(1) == a
    assert [e.kind for e in repo.events(1)] == ["created"]
    assert repo.contact("carol").name == "Carol" and repo.contact("carol").first_seen == T0


def test_round_trip_keeps_every_field(repo):
    conv, _ = repo.create("carol", T0, by="carol", department="Sales")
    conv = repo.attach_room(conv.number, "RID1")
    assert repo.by_room("RID1") == conv
    t = conv.take("alice", at(10))
    assert repo.commit(t)
    conv = t.conversation.note_message(CONTACT, at(11)).note_message(AGENT, at(15))
    repo.save_metrics(conv)
    t = conv.invite("bob", "alice", at(16))
    assert repo.commit(t)
    t = t.conversation.update_info("alice", at(17), topic="login", priority="high", add_tags=["x"])
    assert repo.commit(t)
    t = t.conversation.close("alice", at(20), "done", tags=["y"], pdf=True, email="c@x.org")
    assert repo.commit(t)
    stored = repo.get(conv.number)
    assert stored == t.conversation
    assert stored.metrics.response_count == 1 and stored.metrics.first_response_seconds == 4
    assert [e.kind for e in repo.events(conv.number)] == [
        "created",
        "taken",
        "invited",
        "info",
        "closed",
    ]
    closed_event = repo.events(conv.number)[-1]
    assert (closed_event.actor, closed_event.comment, closed_event.to_state) == (
        "alice",
        "done",
        "closed",
    )
    assert closed_event.data["tags"] == ["x", "y"]
    assert repo.contact("carol").last_agent == "alice"
    seats = [(s["username"], s["role"], s["ended_at"]) for s in repo.seats(conv.number)]
    assert seats == [("alice", "serving", at(20)), ("bob", "invited", at(20))]
    # closed: the contact may open a new one
    new, created = repo.create("carol", at(30), by="carol")
    assert created and new.number == 2
    assert [c.number for c in repo.for_contact("carol", closed_only=True)] == [1]
    assert repo.conversation_count("carol") == 2


def test_stale_revision_is_refused_and_writes_nothing(repo):
    conv, _ = repo.create("carol", T0, by="carol")
    first = conv.take("alice", at(1))
    second = conv.take("bob", at(1))
    assert repo.commit(first)
    assert not repo.commit(second)
    assert repo.get(conv.number).agent == "alice"
    assert [e.kind for e in repo.events(conv.number)] == ["created", "taken"]
    with pytest.raises(Refused, match="already taken by @alice"):
        repo.get(conv.number).take("bob", at(2))


def test_transitions_do_not_overwrite_metrics(repo):
    conv, _ = repo.create("carol", T0, by="carol")
    t = conv.take("alice", at(1))
    repo.commit(t)
    # the message path saves metrics while a transition was decided on the older copy
    repo.save_metrics(t.conversation.note_message(AGENT, at(2)))
    repo.commit(t.conversation.hold("alice", at(3)))
    assert repo.get(conv.number).metrics.last_message_by == AGENT


def test_queries(repo):
    a, _ = repo.create("c1", T0, by="c1", department="Sales")
    b, _ = repo.create("c2", at(1), by="c2", department=None)
    repo.create("c3", at(2), by="c3", department="Support")
    d, _ = repo.create("c4", at(3), by="c4", department="Sales")
    assert [x.number for x in repo.queued()] == [1, 2, 3, 4]
    assert [x.number for x in repo.queued(["Sales", None])] == [1, 2, 4]
    assert [x.number for x in repo.queued(["Support"])] == [3]
    repo.commit(a.take("alice", at(5)))
    t = d.take("alice", at(6))
    repo.commit(t)
    repo.commit(t.conversation.hold("alice", at(7)))
    assert [x.number for x in repo.for_agent("alice")] == [1, 4]
    assert [x.number for x in repo.for_agent("alice", [State.ON_HOLD])] == [4]
    assert repo.open_for_contact("c2").number == b.number
    assert len(repo.open_conversations()) == 4


def test_agent_state_and_counters_survive_restart(store_url):
    url = store_url
    store = Store(url)
    repo = ConversationRepo(store)
    repo.set_availability("alice", "available")
    for i in range(3):
        conv, _ = repo.create(f"c{i}", at(i), by="x", department="Sales" if i < 2 else None)
        repo.commit(conv.assign("alice" if i != 1 else "bob", at(10 + i), by="omnicat"))
    store.close()

    repo = ConversationRepo(Store(url))
    assert repo.agent_records()["alice"].availability == "available"
    assert repo.agent_records()["alice"].last_assigned_at == at(12)
    assert repo.routing_counters() == {
        ("Sales", "alice"): 1,
        ("Sales", "bob"): 1,
        (None, "alice"): 1,
    }
    roster = Roster()
    repo.restore(roster)
    assert roster.agent("alice").availability == "available"
    assert roster.open_total["alice"] == 2 and roster.open_total["bob"] == 1
    assert roster.agent("alice").last_assigned_at == at(12)
    # numbers continue after a restart
    conv, _ = repo.create("new", at(50), by="new")
    assert conv.number == 4


def test_contact_update_merges_custom_fields(repo):
    repo.update_contact("carol", name="Carol", custom_fields={"plan": "pro", "city": "Oslo"})
    c = repo.update_contact("carol", email="c@x.org", custom_fields={"city": None, "vip": "1"})
    assert (c.name, c.email, c.custom_fields) == ("Carol", "c@x.org", {"plan": "pro", "vip": "1"})
    with pytest.raises(ValueError):
        repo.update_contact("carol", shoe_size=42)


def test_take_race_one_winner_per_round(store_url):
    """20 threads take the same conversation at the same instant, 50 rounds, through four
    stores (four processes' worth of engines and write locks: the database decides)."""
    url = store_url
    stores = [Store(url) for _ in range(4)]
    repos = [ConversationRepo(s) for s in stores]
    repo = repos[0]
    agents = [f"agent{i:02d}" for i in range(20)]
    for round_no in range(50):
        conv, _ = repo.create(f"contact{round_no}", at(round_no), by="x")
        barrier = threading.Barrier(len(agents))
        winners: list[str] = []
        told: dict[str, str] = {}
        lock = threading.Lock()

        def take(
            agent: str,
            number: int = conv.number,
            barrier=barrier,
            winners=winners,
            told=told,
            lock=lock,
        ) -> None:
            mine = repos[int(agent[-2:]) % len(repos)]
            barrier.wait(timeout=30)
            current = mine.get(number)
            try:
                won = mine.commit(current.take(agent, at(100)))
                while not won:  # lost the compare-and-set: decide again on fresh data
                    won = mine.commit(mine.get(number).take(agent, at(100)))
            except Refused as r:
                with lock:
                    told[agent] = r.reason
                return
            with lock:
                winners.append(agent)

        threads = [threading.Thread(target=take, args=(a,)) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(winners) == 1, (round_no, winners)
        winner = winners[0]
        stored = repo.get(conv.number)
        assert stored.agent == winner and stored.state is State.SERVING
        assert len(told) == 19
        assert set(told.values()) == {
            f"Conversation #{conv.number} was already taken by @{winner}."
        }
        assert [e.kind for e in repo.events(conv.number)] == ["created", "taken"]
    for store in stores:
        store.close()


def test_transition_helper_retries_and_reports_the_winner(repo):
    conv, _ = repo.create("carol", T0, by="carol")
    roster = Roster()
    for name in ("alice", "bob"):
        roster.set_availability(name, "available")
        roster.set_presence(name, "online")
    calls = []

    def take_as(agent):
        def decide(current):
            calls.append(current.revision)
            if agent == "bob" and len(calls) == 1:
                # alice wins in between bob's read and bob's commit
                repo.transition(conv.number, lambda c: c.take("alice", at(1)), roster=roster)
            return current.take(agent, at(2))

        return decide

    with pytest.raises(Refused, match="already taken by @alice"):
        repo.transition(conv.number, take_as("bob"), roster=roster)
    assert roster.open_total["alice"] == 1 and roster.open_total.get("bob", 0) == 0
    with pytest.raises(LookupError):
        repo.transition(999, lambda c: c.take("bob", at(3)))


def test_capacity_race_under_the_roster_lock(repo):
    """One agent with a limit of 1 takes 10 different chats from 10 threads: one succeeds."""
    roster = Roster(global_max=1)
    roster.set_availability("alice", "available")
    roster.set_presence("alice", "online")
    numbers = [repo.create(f"c{i}", at(i), by="x")[0].number for i in range(10)]
    barrier = threading.Barrier(len(numbers))
    results: list[str] = []

    def take(number: int) -> None:
        barrier.wait(timeout=30)

        def decide(current):
            roster.ensure_can_take("alice", current.department)
            return current.take("alice", at(50))

        try:
            repo.transition(number, decide, roster=roster)
            results.append("won")
        except Refused as r:
            results.append(r.reason)

    threads = [threading.Thread(target=take, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results.count("won") == 1
    assert set(results) - {"won"} == {
        "You have reached the limit of 1 simultaneous chats. Close or hold one first."
    }
    assert len(repo.for_agent("alice")) == 1
