"""`/files` filtering: a file's kind from its MIME type, and the type + name/description query."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.services.search.pattern import Pattern

if TYPE_CHECKING:
    from bot.store.messages import StoredFile

KINDS = ("image", "video", "audio", "document", "other")

# Office formats, PDFs and text: what a support agent would call "a document".
_DOCUMENT_TYPES = {
    "application/pdf",
    "application/rtf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/json",
    "application/xml",
}
_DOCUMENT_PREFIXES = (
    "text/",
    "application/vnd.openxmlformats-officedocument.",
    "application/vnd.oasis.opendocument.",
)


def file_kind(mime: str) -> str:
    """`image`, `video`, `audio`, `document` or `other`."""
    mime = mime.lower().split(";", 1)[0].strip()
    major = mime.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    if mime in _DOCUMENT_TYPES or mime.startswith(_DOCUMENT_PREFIXES):
        return "document"
    return "other"


def is_file_type(text: str) -> bool:
    """Whether a `/files` argument names a type (a kind or a MIME type) rather than a query."""
    text = text.lower()
    return text in KINDS or ("/" in text and " " not in text and not text.startswith("/"))


def _type_matches(mime: str, wanted: str) -> bool:
    wanted = wanted.lower()
    if wanted in KINDS:
        return file_kind(mime) == wanted
    mime = mime.lower().split(";", 1)[0].strip()
    if wanted.endswith("/*"):
        return mime.startswith(wanted[:-1])
    return mime == wanted


def filter_files(
    files: Iterable[StoredFile], *, type: str | None = None, query: Pattern | None = None
) -> list[StoredFile]:
    """Files of a kind (`image`…`other`) or MIME type (`image/png`, `image/*`) whose name or
    description matches the query."""
    return [
        f
        for f in files
        if (type is None or _type_matches(f.type, type))
        and (query is None or query.matches(f.name) or query.matches(f.description or ""))
    ]


def human_size(size: int) -> str:
    """`532 B`, `12.3 KB`, `4.0 MB` (powers of 1024, as Rocket.Chat shows them)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover
