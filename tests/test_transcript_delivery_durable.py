"""Transcripts planned at close survive a crash: the plan is rows in `transcript_requests`, a
row is done only with its delivery row, and the next run's first connect delivers the rest."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fakes import BASE_TIME
from test_transcript_delivery import Desk

from bot.domain import CONTACT
from bot.services.transcripts.delivery import TranscriptService
from bot.services.transcripts.jobs import run_inline
from bot.store.migrations import m0007_transcript_requests


@pytest.fixture
def desk(tmp_path: Path) -> Any:
    d = Desk(tmp_path)
    yield d
    d.app.stop(5)
    d.store.close()


def killed_pool(held: list[Any]) -> Any:
    """A slow pool that never runs what it is given: the process died before it got there."""

    def run_slow(fn: Any, *args: Any) -> Future[Any]:
        held.append((fn, args))
        return Future()

    return run_slow


def next_run(desk: Desk) -> TranscriptService:
    """A fresh service on the same store, as after a restart."""
    return TranscriptService(desk.wf, run_inline)


def test_a_pdf_asked_at_close_is_delivered_once_after_a_crash(desk: Desk) -> None:
    held: list[Any] = []
    desk.service.run_slow = killed_pool(held)
    conv = desk.conversation(closed=False)
    desk.close(conv.number, by="bob", pdf=True)
    desk.wf.effects.finish_close(desk.wf.repo.get(conv.number), "bob")
    assert len(held) == 1 and desk.uploads("bob") == []

    service = next_run(desk)
    assert service.resume() == 1
    assert len(desk.uploads("bob")) == 1
    (row,) = service.repo.deliveries(conv.number)
    assert (row["kind"], row["requester"], row["trigger"], row["ok"]) == ("pdf", "bob", "close", 1)
    assert service.resume() == 0  # nothing left over
    # The dead run's job, should it run after all, finds its request answered.
    fn, args = held[0]
    assert fn(*args) is True
    assert len(desk.uploads("bob")) == 1
    assert len(service.repo.deliveries(conv.number)) == 1


def test_a_preference_survives_a_crash_after_a_contact_close(desk: Desk) -> None:
    desk.service.repo.set_prefs("bob", pdf=True)
    desk.service.run_slow = killed_pool([])
    conv = desk.conversation(closed=False)
    desk.close(conv.number, by="carol", closer=CONTACT)
    desk.wf.effects.finish_close(desk.wf.repo.get(conv.number), "carol")
    assert desk.uploads("bob") == []

    service = next_run(desk)
    assert service.resume() == 1
    assert len(desk.uploads("bob")) == 1
    assert [r["trigger"] for r in service.repo.deliveries(conv.number)] == ["preference"]


def test_a_wish_recorded_while_open_is_planned_when_the_close_hook_never_ran(desk: Desk) -> None:
    maria = desk.chat.users["maria"]
    conv = desk.conversation(closed=False)
    assert desk.service.prepare_email(maria, conv.number, "c@x.io", "Your chat") is None
    desk.close(conv.number, by="bob")  # committed; the process dies before the close hook

    service = next_run(desk)
    assert service.resume() == 1
    # no SMTP server on port 9: the failure is reported, and that answers the request too
    # maria (a manager) reads it in her console thread for the chat, not at the DM's top level
    assert desk.dms("maria") == []
    (dm,) = desk.thread("maria", conv.number)
    assert dm.startswith(f"I couldn't deliver the transcript e-mail of #{conv.number} to c***@x.io")
    (row,) = service.repo.deliveries(conv.number)
    assert not row["ok"]
    assert service.resume() == 0


def test_a_second_close_hook_plans_nothing_more(desk: Desk) -> None:
    conv = desk.conversation(closed=False)
    desk.close(conv.number, by="bob", pdf=True)
    closed = desk.wf.repo.get(conv.number)
    desk.service.on_closed(closed, "bob")
    desk.service.on_closed(closed, "bob")
    assert len(desk.uploads("bob")) == 1
    assert desk.service.repo.planned_pending() == []


def test_migration_7_adds_the_column_to_an_older_store(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE transcript_requests (id INTEGER PRIMARY KEY, conversation_number "
                "INTEGER NOT NULL, kind VARCHAR(8) NOT NULL, requester VARCHAR(255) NOT NULL, "
                "address VARCHAR(320), subject TEXT, created_at DATETIME NOT NULL, "
                "done_at DATETIME)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO transcript_requests (conversation_number, kind, requester, "
                "created_at) VALUES (1, 'email', 'maria', :at)"
            ),
            {"at": BASE_TIME},
        )
        m0007_transcript_requests.upgrade(conn)
        m0007_transcript_requests.upgrade(conn)  # a store that has it already is left alone
        rows = conn.execute(sa.text('SELECT "trigger" FROM transcript_requests')).all()
    assert rows == [(None,)]
    engine.dispose()
