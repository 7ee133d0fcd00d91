"""Processed marks and room cursors written a moment later, many in one transaction.

A command handled on its own used to end with a write transaction of its own (its processed
mark and its room's cursor). On a SQLite file that was, after the handler, the largest cost of a
command: two dozen system calls (the locks, the WAL pages, the page cache re-read after
another connection's write) and the GIL handed over at each of them.

A mark only has to be written after the effects it records, not at once: the effects are
idempotent (derived message ids, the events' causes; `test_e2e_exactly_once` deletes the marks
and replays everything, and nothing is done twice). So `PendingMarks` keeps marks for at most
`delay` seconds (or `limit` marks) and writes them in one transaction. Until then `has` answers
for them, so a message is still handled once while the bot runs. A crash loses at most `delay`
seconds of marks, and catch-up replays those messages, which then change nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from bot.chat.gates import Gate, settle_all

log = logging.getLogger("omnicat.store")

#: (message id, revision, rid) and (rid, ts, message id), as `Store.record_processed` takes
#: them; written as (message id, revision, rid, processed at): the time it was handled, not
#: written (what pruning and a replay's "since when" go by)
Mark = tuple[str, str, str]
TimedMark = tuple[str, str, str, datetime]
CursorMove = tuple[str, datetime, str | None]

#: seconds a mark may wait to be written (the most a crash can lose, and catch-up replays).
#: Each write costs its thread's wake-up and a transaction, about 0.7 ms of CPU: at 50 commands
#: a second and 0.1 s that was a tenth of a command's CPU, at 0.5 s a fiftieth.
DELAY = 0.5
#: marks that are written at once, whatever their age (a burst's memory stays small)
LIMIT = 256


class PendingMarks:
    """Marks and cursors waiting to be written by `write(marks, cursors)` (one transaction),
    from a thread of their own, started with the first mark."""

    def __init__(
        self,
        write: Callable[[list[TimedMark], list[CursorMove]], None],
        *,
        delay: float = DELAY,
        limit: int = LIMIT,
    ) -> None:
        self._write = write
        self.delay, self.limit = delay, limit
        self._lock = threading.Lock()
        #: message id -> revision -> (rid, processed at)
        self._marks: dict[str, dict[str, tuple[str, datetime]]] = {}
        self._count = 0
        self._cursors: dict[str, tuple[datetime, str | None]] = {}
        self._gates: list[Gate] = []  # of the marks that wait: settled before they are written
        self._writing = threading.Lock()  # one write at a time: marks land in their order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writes = 0  # transactions written (for tests and the benches)

    def add(
        self, marks: Iterable[Mark], cursors: Iterable[CursorMove], gates: Sequence[Gate] = ()
    ) -> bool:
        """Keep these to be written soon, once `gates` settled (`bot.chat.gates`: what the
        handling sent and did not wait for); False once closed (then the caller writes
        them)."""
        at = datetime.now(UTC)
        with self._lock:
            if self._stop.is_set():
                return False
            self._gates.extend(gates)
            for msg_id, revision, rid in marks:
                revisions = self._marks.setdefault(msg_id, {})
                if revision not in revisions:
                    revisions[revision] = (rid, at)
                    self._count += 1
            for rid, ts, msg_id in cursors:
                known = self._cursors.get(rid)
                if known is None or ts > known[0]:
                    self._cursors[rid] = (ts, msg_id)
            full = self._count >= self.limit
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pending-marks", daemon=True)
                self._thread.start()
        self._wake.set()
        if full:
            self.flush()
        return True

    def has(self, msg_id: str, revision: str | None = None) -> bool:
        """Whether this revision (None: any revision) of the message waits here."""
        with self._lock:
            revisions = self._marks.get(msg_id)
            if not revisions:
                return False
            return revision is None or revision in revisions

    def among(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (message id, revision) wait here."""
        with self._lock:
            return {key for key in keys if key[1] in self._marks.get(key[0], ())}

    @property
    def pending(self) -> int:
        with self._lock:
            return self._count + len(self._cursors)

    def flush(self) -> None:
        """Write what waits now, in one transaction. The marks answer `has` until written; a
        write that fails is logged and its marks forgotten, as a failed write always was (the
        messages are then replayed after a restart, and change nothing)."""
        with self._writing:
            with self._lock:
                gates, self._gates = self._gates, []
                if not self._count and not self._cursors and not gates:
                    return
                marks: Sequence[TimedMark] = [
                    (msg_id, revision, rid, at)
                    for msg_id, revisions in self._marks.items()
                    for revision, (rid, at) in revisions.items()
                ]
                cursors = dict(self._cursors)
            # A mark only after its event's messages are stored: a crash before replays it.
            settle_all(gates)
            try:
                self._write(list(marks), [(rid, ts, m) for rid, (ts, m) in cursors.items()])
                self.writes += 1
            except Exception:
                log.warning("cannot mark %d message(s) processed", len(marks), exc_info=True)
            finally:
                self._forget(marks, cursors)

    def _forget(
        self, marks: Sequence[TimedMark], cursors: dict[str, tuple[datetime, str | None]]
    ) -> None:
        with self._lock:
            for msg_id, revision, _rid, _at in marks:
                revisions = self._marks.get(msg_id)
                if revisions is not None and revisions.pop(revision, None) is not None:
                    self._count -= 1
                    if not revisions:
                        del self._marks[msg_id]
            for rid, value in cursors.items():
                if self._cursors.get(rid) == value:  # not moved on meanwhile
                    del self._cursors[rid]

    def close(self) -> None:
        """Write what waits and stop the thread; later marks are the caller's to write."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            # the first mark of a batch waits `delay`: the marks that come meanwhile join it
            if self._stop.wait(self.delay):
                return
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never the thread's end: the next marks must still be written
                log.exception("writing processed marks failed")
