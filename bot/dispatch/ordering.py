"""Per-room FIFO on a bounded thread pool.

Each room (key) has a queue; at most one worker drains a room at a time, so one room's events never
overtake each other, while different rooms run concurrently. A worker runs one job and then
re-submits the room behind the others, so a busy room cannot starve the rest.

`submit_batch(key, fn, item)` queues an item for a batch function: a worker that finds several
consecutive such items for the same function at the head of a room's queue calls `fn(items)`
once (at most `max_batch` of them, in order). That is how a burst of messages in one room is
stored in one transaction instead of one each.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("omnicat.dispatch")


_Job = tuple[Callable[..., Any], tuple[Any, ...], bool]  # fn, args, is a batch item


class KeyedSerialExecutor:
    def __init__(self, max_workers: int = 8, name: str = "room", max_batch: int = 256) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        self.max_batch = max_batch
        self._queues: dict[str, deque[_Job]] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._closed = False

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> bool:
        """Queue `fn(*args)` behind the other jobs of `key`; False once stopped."""
        return self._submit(key, (fn, args, False))

    def submit_batch(self, key: str, fn: Callable[[list[Any]], Any], item: Any) -> bool:
        """Queue `item` behind the other jobs of `key`, to be handled as `fn([item, ...])`
        together with the items queued right behind it for the same `fn`; False once stopped."""
        return self._submit(key, (fn, (item,), True))

    def _submit(self, key: str, job: _Job) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._pending += 1
            queue = self._queues.get(key)
            if queue is not None:
                queue.append(job)
                return True
            self._queues[key] = deque([job])
        self._pool.submit(self._run_one, key)
        return True

    def _run_one(self, key: str) -> None:
        with self._lock:
            queue = self._queues[key]
            fn, args, batch = queue[0]
            taken = 1
            if batch:
                # The run of items for the same function at the head (bound methods compare
                # equal, not identical); the queue only grows at the tail meanwhile.
                items = [args[0]]
                limit = min(len(queue), self.max_batch)
                while taken < limit and queue[taken][2] and queue[taken][0] == fn:
                    items.append(queue[taken][1][0])
                    taken += 1
                args = (items,)
        try:
            fn(*args)
        except Exception:
            log.exception("job for %s failed", key)
        finally:
            with self._lock:
                queue = self._queues[key]
                for _ in range(taken):
                    queue.popleft()
                self._pending -= taken
                more = bool(queue)
                if not more:
                    del self._queues[key]
                if self._pending == 0:
                    self._idle.notify_all()
            if more:
                self._pool.submit(self._run_one, key)

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every queued job has run; False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def stop(self, timeout: float | None = None) -> bool:
        """Refuse new jobs, finish the queued ones (up to `timeout`), then stop the threads."""
        with self._lock:
            self._closed = True
        done = self.wait_idle(timeout)
        self._pool.shutdown(wait=done, cancel_futures=not done)
        return done
