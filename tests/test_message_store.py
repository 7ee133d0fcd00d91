"""The message store: edits, deletions, revision order, files, per-room and per-author reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.chat.types import FileInfo, Message, UserRef
from bot.store import Store
from bot.store.messages import MessageRepo

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def msg(
    mid: str,
    text: str,
    *,
    rid: str = "R1",
    user: str = "carol",
    at: int = 0,
    edited: int | None = None,
    type: str | None = None,
    files: tuple[FileInfo, ...] = (),
) -> Message:
    """A message `at` seconds after T0, edited `edited` seconds after T0."""
    return Message(
        id=mid,
        rid=rid,
        text=text,
        ts=T0 + timedelta(seconds=at),
        author=UserRef(f"id-{user}", user),
        edited_at=T0 + timedelta(seconds=edited) if edited is not None else None,
        type=type,
        files=files,
    )


pytestmark = pytest.mark.both_stores


@pytest.fixture
def repo(store_url: str) -> Iterator[MessageRepo]:
    store = Store(store_url)
    yield MessageRepo(store)
    store.close()


def test_stores_and_reads_back_in_time_order(repo: MessageRepo) -> None:
    repo.upsert(msg("m2", "second", at=2), conversation_id=7)
    repo.upsert(msg("m1", "first", at=1), conversation_id=7)
    repo.upsert(msg("x1", "elsewhere", rid="R2", at=1))
    got = repo.for_room("R1")
    assert [m.text for m in got] == ["first", "second"]
    assert got[0].ts == T0 + timedelta(seconds=1) and got[0].ts.tzinfo is not None
    assert got[0].author_username == "carol" and got[0].conversation_id == 7
    assert [m.id for m in repo.for_room("R1", since=T0 + timedelta(seconds=1))] == ["m2"]
    assert [m.id for m in repo.for_conversations([7])] == ["m1", "m2"]
    assert sorted(repo.rooms()) == ["R1", "R2"]


def test_edit_replaces_text_and_keeps_conversation(repo: MessageRepo) -> None:
    repo.upsert(msg("m1", "helo", at=1), conversation_id=3)
    repo.upsert(msg("m1", "hello", at=1, edited=5))  # an edit event does not know the conv
    stored = repo.get("m1")
    assert stored is not None
    assert stored.text == "hello" and stored.edited and stored.conversation_id == 3


def test_deletion_clears_text_and_hides_message(repo: MessageRepo) -> None:
    repo.upsert(msg("m1", "secret", at=1))
    repo.upsert(msg("m1", "", at=1, edited=9, type="rm"))
    assert repo.for_room("R1") == []
    stored = repo.for_room("R1", include_deleted=True)[0]
    assert stored.deleted and stored.text == ""


def test_older_revision_never_overwrites_newer(repo: MessageRepo) -> None:
    repo.upsert(msg("m1", "final", at=1, edited=10))
    repo.upsert(msg("m1", "draft", at=1, edited=5))
    repo.upsert(msg("m1", "original", at=1))
    assert repo.get("m1").text == "final"  # type: ignore[union-attr]
    # A replay of the same revision is harmless, and a deletion is never undone by one.
    repo.upsert(msg("m1", "", at=1, edited=20, type="rm"))
    repo.upsert(msg("m1", "final", at=1, edited=20))
    assert repo.get("m1").deleted  # type: ignore[union-attr]


def test_upsert_many_mixes_revisions_in_one_batch(repo: MessageRepo) -> None:
    batch = [msg(f"m{i}", f"text {i}", at=i) for i in range(200)]
    batch += [msg("m5", "edited five", at=5, edited=300), msg("m5", "stale", at=5, edited=100)]
    batch += [(msg("m999", "with conv", at=999), 42)]
    assert repo.upsert_many(batch) == 203
    assert repo.get("m5").text == "edited five"  # type: ignore[union-attr]
    assert repo.get("m999").conversation_id == 42  # type: ignore[union-attr]
    assert len(repo.for_room("R1")) == 201


def test_files_listing_follows_the_current_revision(repo: MessageRepo) -> None:
    report = FileInfo("f1", "report.pdf", "application/pdf", 1234, "/file-upload/f1/report.pdf")
    photo = FileInfo("f2", "photo.png", "image/png", 99, description="the error screen")
    repo.upsert(msg("m1", "see attached", at=1, user="carol", files=(report,)))
    repo.upsert(msg("m2", "", at=2, user="alice", files=(photo,)))
    repo.upsert(msg("m3", "gone", at=3, files=(FileInfo("f3", "x.txt", "text/plain"),)))
    repo.upsert(msg("m3", "", at=3, edited=4, type="rm"))
    files = repo.files("R1")
    assert [(f.name, f.type, f.size, f.author_username) for f in files] == [
        ("report.pdf", "application/pdf", 1234, "carol"),
        ("photo.png", "image/png", 99, "alice"),
    ]
    assert files[1].description == "the error screen" and files[0].url.endswith("report.pdf")
    # A stale event with other files changes nothing.
    repo.upsert(msg("m1", "see attached", at=0, files=(photo,)))
    assert [f.file_id for f in repo.files("R1")] == ["f1", "f2"]


def test_last_by_author_skips_deleted_and_system(repo: MessageRepo) -> None:
    repo.upsert(msg("m1", "first of alice", at=1, user="alice"))
    repo.upsert(msg("m2", "latest of alice", at=2, user="alice"))
    repo.upsert(msg("m3", "carol", at=3, user="carol"))
    repo.upsert(msg("m4", "alice joined", at=4, user="alice", type="uj"))
    repo.upsert(msg("m5", "oops", at=5, user="alice"))
    repo.upsert(msg("m5", "", at=5, edited=6, user="alice", type="rm"))
    assert repo.last_by_author("R1", "alice").text == "latest of alice"  # type: ignore[union-attr]
    assert repo.last_by_author("R1", "nobody") is None


def test_generation_changes_on_every_write(repo: MessageRepo) -> None:
    before = repo.generation("R1")
    repo.upsert(msg("m1", "x"))
    assert repo.generation("R1") == before + 1 and repo.generation("R2") == 0
