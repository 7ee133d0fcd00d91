"""Which messages may have a processed mark: a Bloom filter over the marks' message ids.

Every message the bot handles is first looked up in `processed_messages` (`Dedupe`): a
replayed or re-emitted message must not run twice. Nearly every lookup finds nothing (a message
arrives once), yet on a SQLite file it was a sixth of a command's CPU: the read itself is cheap,
but the driver hands the GIL over around it, and the reader thread, busy with the next frames,
takes it each time.

`MarkFilter` answers "certainly not marked" from memory. It holds the ids of every mark in the
table when it was built (one scan, on its own thread; until then it answers "maybe") and of
every mark this process makes from then on, added before the mark can be seen anywhere. A
"maybe" (a mark, or a false positive: about 1 % at capacity) goes to the table as before. So
it is exact as long as this process is the table's only writer, which the store checks: an
instance under the HA lease (a fence) has a peer writing marks, and never uses it.

The filter cannot forget an id: after pruning (`Store.prune_processed`) it is built again
from the table when it holds more ids than it was made for, so a long run neither grows its
memory nor slides back into a "maybe" for everything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

log = logging.getLogger("omnicat.store")

#: bits per id (with HASHES, about 1 % false positives at capacity)
BITS_PER_ID = 10
HASHES = 7
#: ids a filter is made for at least (125 KB)
MIN_CAPACITY = 100_000
_MASK32 = 0xFFFFFFFF


class BloomBits:
    """A fixed-size Bloom filter of strings (Python's own string hash, split in two for double
    hashing: ids stay in this process, so its per-process seed does no harm)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, MIN_CAPACITY)
        self.size = self.capacity * BITS_PER_ID
        self._bits = bytearray((self.size + 7) // 8)
        self.count = 0

    def add(self, key: str) -> None:
        """Not thread-safe: `MarkFilter` adds under its lock (a byte's `|=` is no atom)."""
        value, size, bits = hash(key), self.size, self._bits
        position, step = value & _MASK32, (value >> 32) & _MASK32 | 1
        for _ in range(HASHES):
            bit = position % size
            bits[bit >> 3] |= 1 << (bit & 7)
            position += step
        self.count += 1

    def __contains__(self, key: str) -> bool:
        value, size, bits = hash(key), self.size, self._bits
        position, step = value & _MASK32, (value >> 32) & _MASK32 | 1
        for _ in range(HASHES):
            bit = position % size
            if not bits[bit >> 3] >> (bit & 7) & 1:
                return False
            position += step
        return True


class MarkFilter:
    """The message ids that may be marked processed, built from the table by `scan()` on a
    thread of its own (`start`), and again by `rebuild_if_full`.

    An id added while a build runs (before its scan has even begun) goes into the new filter
    too; `settle()`, run by the build before it scans, makes sure every mark made before the
    build began is in the table by then (the store writes its waiting marks and lets the open
    write transactions end)."""

    def __init__(
        self,
        scan: Callable[[], Iterable[str]],
        count: Callable[[], int],
        settle: Callable[[], None] = lambda: None,
    ) -> None:
        self._scan, self._count, self._settle = scan, count, settle
        self._lock = threading.Lock()
        self._ready: BloomBits | None = None  # None: not built yet, every id is a "maybe"
        self._building: BloomBits | None = None  # the filter a scan fills now
        self._early: list[str] | None = None  # ids added after a build began, before its filter
        self._started = False
        self.closed = False
        self.builds = 0  # finished builds (for tests)

    def start(self) -> None:
        """Build it (once; later calls do nothing)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._early = []
        self._spawn()

    @property
    def started(self) -> bool:
        return self._started

    @property
    def capacity(self) -> int:
        """The ids the filter in use was made for (0: none built yet)."""
        ready = self._ready
        return ready.capacity if ready is not None else 0

    @property
    def count(self) -> int:
        """The ids added to the filter in use (0: none built yet)."""
        ready = self._ready
        return ready.count if ready is not None else 0

    def may_have(self, msg_id: str) -> bool:
        """False only when `msg_id` certainly has no processed mark."""
        ready = self._ready
        return ready is None or msg_id in ready

    def add(self, msg_ids: Iterable[str]) -> None:
        """Ids about to be marked: called before the mark is written or kept anywhere."""
        ids = list(msg_ids)
        with self._lock:
            if self._early is not None:
                self._early.extend(ids)
            for bloom in (self._ready, self._building):
                if bloom is not None:
                    for msg_id in ids:
                        bloom.add(msg_id)

    def rebuild_if_full(self) -> bool:
        """After the table was pruned: build it anew when it holds more ids than it was made
        for (the old one answers meanwhile). True when a build started."""
        with self._lock:
            ready = self._ready
            if ready is None or self._early is not None or self._building is not None:
                return False
            if ready.count <= ready.capacity:
                return False
            self._early = []
        self._spawn()
        return True

    def close(self) -> None:
        self.closed = True

    def _spawn(self) -> None:
        threading.Thread(target=self._build, name="mark-filter", daemon=True).start()

    def _build(self) -> None:
        try:
            self._settle()
            rows = self._count()
            # twice what is there: room to grow before a pruning builds it again
            bloom = BloomBits(2 * rows)
            with self._lock:
                for msg_id in self._early or ():
                    bloom.add(msg_id)
                self._early, self._building = None, bloom
            batch: list[str] = []
            for msg_id in self._scan():
                batch.append(msg_id)
                if len(batch) >= 5000:
                    self._fill(bloom, batch)
                    batch = []
            self._fill(bloom, batch)
        except Exception:
            if not self.closed:
                log.warning("cannot build the processed-marks filter", exc_info=True)
            with self._lock:
                self._early = self._building = None
            return
        with self._lock:
            self._ready, self._building = bloom, None
            self.builds += 1
        log.debug("processed-marks filter: %d ids, room for %d", bloom.count, bloom.capacity)

    def _fill(self, bloom: BloomBits, ids: list[str]) -> None:
        with self._lock:  # one lock with `add`: a byte's `|=` is no atom
            for msg_id in ids:
                bloom.add(msg_id)
