"""One re-entrant lock per conversation, so a conversation's transitions and their room notes
happen in one order.

The store's compare-and-set already orders the transitions themselves; the notes that follow a
commit are chat I/O, and two agents acting on one chat from their own DMs (two room queues) can
post them in the other order when the server is slow or rate-limits one of them: the room would
then say "Returned to the queue" after "Closed". Holding the conversation's lock from the
decision until its effects are posted keeps the room's story the store's story, and holds up
only other actions on the same conversation.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class ConversationLocks:
    """Locks made on demand and dropped when nobody holds or waits for them (numbers only grow)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[int, tuple[threading.RLock, list[int]]] = {}

    @contextlib.contextmanager
    def hold(self, number: int) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.setdefault(number, (threading.RLock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._locks[number]

    def __len__(self) -> int:
        with self._guard:
            return len(self._locks)
