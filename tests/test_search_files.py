"""`/files` filtering over the stored files: kinds, MIME types, name and description query."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chat.types import FileInfo, Message, UserRef
from bot.services.search import compile_pattern, file_kind, filter_files, human_size, is_file_type
from bot.store import Store
from bot.store.messages import MessageRepo

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture
def files(tmp_path):
    repo = MessageRepo(Store(f"sqlite:///{tmp_path / 'omnicat.db'}"))
    uploads = [
        FileInfo("f1", "screenshot.png", "image/png", 2048, description="the error dialog"),
        FileInfo("f2", "invoice-2026.pdf", "application/pdf", 90_000),
        FileInfo("f3", "call.mp3", "audio/mpeg", 5_000_000),
        FileInfo("f4", "demo.webm", "video/webm", 10),
        FileInfo("f5", "notes.docx", DOCX),
        FileInfo("f6", "dump.bin", "application/octet-stream"),
    ]
    ts = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    for i, upload in enumerate(uploads):
        repo.upsert(Message(f"m{i}", "R1", "", ts, UserRef("u", "carol"), files=(upload,)))
    return repo.files("R1")


def names(found) -> list[str]:
    return [f.name for f in found]


def test_kinds(files) -> None:
    assert names(filter_files(files, type="image")) == ["screenshot.png"]
    assert names(filter_files(files, type="document")) == ["invoice-2026.pdf", "notes.docx"]
    assert names(filter_files(files, type="audio")) == ["call.mp3"]
    assert names(filter_files(files, type="video")) == ["demo.webm"]
    assert names(filter_files(files, type="other")) == ["dump.bin"]
    assert file_kind("text/plain; charset=utf-8") == "document"


def test_mime_types(files) -> None:
    assert names(filter_files(files, type="application/pdf")) == ["invoice-2026.pdf"]
    assert names(filter_files(files, type="video/*")) == ["demo.webm"]
    assert is_file_type("image") and is_file_type("image/png") and not is_file_type("invoice")


def test_query_matches_name_and_description(files) -> None:
    assert names(filter_files(files, query=compile_pattern(r"invoice-\d+"))) == ["invoice-2026.pdf"]
    assert names(filter_files(files, query=compile_pattern("ERROR"))) == ["screenshot.png"]
    assert names(filter_files(files, type="image", query=compile_pattern("pdf"))) == []


def test_human_size() -> None:
    assert [human_size(n) for n in (532, 2048, 5_000_000)] == ["532 B", "2.0 KB", "4.8 MB"]
