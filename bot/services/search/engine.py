"""Search over the stored conversation messages, fast enough for a million of them.

How it is fast (bench/search.py shows each step's effect):

- Each room's live messages are kept in memory as one UTF-8 buffer, messages joined by `\\n`,
  with an array of message start offsets. One RE2 call scans a whole room; a match's offset
  maps back to its message with a binary search. Per-row matching pays Python's call overhead
  and a str→UTF-8 encode for every message; this pays it once per *matching* message.
- After a match the scan jumps to the next message, so a message counts once however many
  times it matches, and the work is bounded by the buffer length plus the number of hits.
- Buffers are built lazily per room and rebuilt only when `MessageRepo.generation(rid)` says
  the room was written since; a search scoped to one conversation touches only that room.
- RE2 is linear-time, and the pattern is compiled with `never_nl`, so no match can run from one
  message into the next (see bot/services/search/pattern.py).
"""

from __future__ import annotations

import heapq
import threading
import weakref
from array import array
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from bot.services.search.pattern import Pattern, compile_pattern

if TYPE_CHECKING:
    from bot.store.messages import MessageRepo

DEFAULT_LIMIT = 20
DEFAULT_CACHE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Hit:
    """One matching message: its current text and the character spans of every match."""

    msg_id: str
    rid: str
    ts: datetime
    author: str
    text: str
    spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The newest `limit` matching messages (newest first), how many matched in all, and how
    many in each room that had any (for `/history <query>`: which conversations matched)."""

    hits: tuple[Hit, ...]
    total: int
    by_room: dict[str, int] = field(default_factory=dict)

    @property
    def more(self) -> int:
        """How many matching messages are not in `hits` (the "N more")."""
        return self.total - len(self.hits)


class _Segment:
    """One room's live messages, in time order, as a searchable buffer."""

    __slots__ = ("authors", "buffer", "generation", "ids", "stamps", "starts")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.buffer = b""
        self.starts = array("q")  # byte offset where each message starts
        self.stamps = array("d")  # ts, epoch seconds
        self.ids: list[str] = []
        self.authors: list[str] = []

    @property
    def size(self) -> int:
        return len(self.buffer) + 40 * len(self.ids)

    def text(self, index: int) -> str:
        end = self.starts[index + 1] - 1 if index + 1 < len(self.starts) else len(self.buffer)
        return self.buffer[self.starts[index] : end].decode("utf-8")


def _build(
    generation: int, ids: list[str], authors: list[str], texts: list[str], stamps: list[float]
) -> _Segment:
    segment = _Segment(generation)
    encoded = [text.encode("utf-8") for text in texts]
    starts = segment.starts
    offset = 0
    for data in encoded:
        starts.append(offset)
        offset += len(data) + 1
    segment.buffer = b"\n".join(encoded)
    segment.ids = ids
    # Interned: a room has few authors and this list is as long as the room.
    interned: dict[str, str] = {}
    segment.authors = [interned.setdefault(name, name) for name in authors]
    segment.stamps = array("d", stamps)
    return segment


class SearchIndex:
    """In-memory text of the rooms searched, kept in step with a `MessageRepo`.

    Thread-safe: segments are immutable once built and swapped in under a lock.
    `max_bytes` bounds memory; the least recently searched rooms are dropped first.
    """

    def __init__(self, repo: MessageRepo, *, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        # Only a weak reference to the store: the shared indexes are keyed by store and
        # must not keep it alive.
        self._store = weakref.ref(repo.store)
        self._repo_type = type(repo)
        self.max_bytes = max_bytes
        self._segments: OrderedDict[str, _Segment] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def repo(self) -> MessageRepo:
        store = self._store()
        if store is None:
            raise RuntimeError("the store of this search index is gone")
        return self._repo_type(store)

    def _current(self, rids: Sequence[str]) -> list[tuple[str, _Segment]]:
        with self._lock:
            fresh: dict[str, _Segment] = {}
            stale: list[str] = []
            repo = self.repo
            for rid in rids:
                segment = self._segments.get(rid)
                if segment is not None and segment.generation == repo.generation(rid):
                    fresh[rid] = segment
                    self._segments.move_to_end(rid)
                else:
                    stale.append(rid)
        if stale:
            fresh.update(self._load(stale))
        return [(rid, fresh[rid]) for rid in rids if rid in fresh]

    def _load(self, rids: list[str]) -> dict[str, _Segment]:
        # Generations are read before the rows: a write racing this load leaves the segment
        # marked older than its content, so it is rebuilt next time rather than missed.
        repo = self.repo
        generations = {rid: repo.generation(rid) for rid in rids}
        built: dict[str, _Segment] = {}
        # Rows come grouped by room in time order: build each room's segment as it ends.
        current: str | None = None
        ids: list[str] = []
        authors: list[str] = []
        texts: list[str] = []
        stamps: list[float] = []
        for rid, msg_id, author, text, stamp in repo.texts(rids):
            if rid != current:
                if current is not None:
                    built[current] = _build(generations[current], ids, authors, texts, stamps)
                current, ids, authors, texts, stamps = rid, [], [], [], []
            ids.append(msg_id)
            authors.append(author)
            texts.append(text)
            stamps.append(stamp)
        if current is not None:
            built[current] = _build(generations[current], ids, authors, texts, stamps)
        for rid in rids:  # rooms with no live message yet
            if rid not in built:
                built[rid] = _build(generations[rid], [], [], [], [])
        with self._lock:
            for rid, segment in built.items():
                old = self._segments.get(rid)
                if old is not None and old.generation > segment.generation:
                    continue  # a concurrent load got a newer copy in first
                if old is not None:
                    del self._segments[rid]
                    self._bytes -= old.size
                self._segments[rid] = segment
                self._bytes += segment.size
            while self._bytes > self.max_bytes and len(self._segments) > len(built):
                _, dropped = self._segments.popitem(last=False)
                self._bytes -= dropped.size
        return built

    @property
    def memory_bytes(self) -> int:
        """Approximate memory held by the cached room buffers."""
        return self._bytes

    def warm(self, rids: Iterable[str] | None = None) -> None:
        """Build the buffers now (e.g. at start-up) instead of on the first search."""
        self._current(list(self.repo.rooms() if rids is None else rids))

    def search(
        self,
        pattern: Pattern | str,
        *,
        rids: Iterable[str] | None = None,
        author: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> SearchResult:
        """Matching live messages in `rids` (every stored room when None), newest first."""
        if isinstance(pattern, str):
            pattern = compile_pattern(pattern)
        author = author.lstrip("@") if author else None
        rooms = self._current(list(dict.fromkeys(self.repo.rooms() if rids is None else rids)))
        total = 0
        by_room: dict[str, int] = {}
        newest: list[tuple[float, int, str, _Segment]] = []
        keep = max(limit, 0)
        first = pattern.first
        for rid, segment in rooms:
            found, recent = _scan(first, segment, author, keep)
            total += found
            if found:
                by_room[rid] = found
            newest.extend((segment.stamps[i], i, rid, segment) for i in recent)
        top = heapq.nlargest(keep, newest, key=lambda item: (item[0], item[1]))
        hits = tuple(
            Hit(
                msg_id=segment.ids[i],
                rid=rid,
                ts=datetime.fromtimestamp(round(stamp, 3), tz=UTC),
                author=segment.authors[i],
                text=(text := segment.text(i)),
                spans=tuple(pattern.spans(text)),
            )
            for stamp, i, rid, segment in top
        )
        return SearchResult(hits=hits, total=total, by_room=by_room)


def _scan(
    first: Callable[[bytes, int, int], int], segment: _Segment, author: str | None, keep: int
) -> tuple[int, deque[int]]:
    """Count the matching messages of one room; keep the indexes of the last `keep`."""
    buffer, starts, authors = segment.buffer, segment.starts, segment.authors
    count = len(starts)
    recent: deque[int] = deque(maxlen=keep)
    if not count:
        return 0, recent
    found = 0
    pos, end = 0, len(buffer)
    while pos <= end:
        at = first(buffer, pos, end)
        if at < 0:
            break
        index = bisect_right(starts, at) - 1
        if author is None or authors[index] == author:
            found += 1
            recent.append(index)
        index += 1
        if index >= count:
            break
        pos = starts[index]
    return found, recent


_indexes: WeakKeyDictionary[object, SearchIndex] = WeakKeyDictionary()
_indexes_lock = threading.Lock()


def index_for(repo: MessageRepo) -> SearchIndex:
    """The shared `SearchIndex` of the repo's store (one per store, made on first use)."""
    with _indexes_lock:
        index = _indexes.get(repo.store)
        if index is None:
            index = _indexes[repo.store] = SearchIndex(repo)
        return index


def search(
    repo: MessageRepo,
    pattern: Pattern | str,
    *,
    rids: Iterable[str] | None = None,
    author: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> SearchResult:
    """Search the repo's stored messages (see `SearchIndex.search`)."""
    return index_for(repo).search(pattern, rids=rids, author=author, limit=limit)
