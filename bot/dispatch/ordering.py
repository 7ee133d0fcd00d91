"""Per-room FIFO on a bounded thread pool.

Each room (key) has a queue; at most one worker drains a room at a time, so one room's events never
overtake each other, while different rooms run concurrently. A worker runs one job and then
re-submits the room behind the others, so a busy room cannot starve the rest.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("omnicat.dispatch")


class KeyedSerialExecutor:
    def __init__(self, max_workers: int = 8, name: str = "room") -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name)
        self._queues: dict[str, deque[tuple[Callable[..., Any], tuple[Any, ...]]]] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._closed = False

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> bool:
        """Queue `fn(*args)` behind the other jobs of `key`; False once stopped."""
        with self._lock:
            if self._closed:
                return False
            self._pending += 1
            queue = self._queues.get(key)
            if queue is not None:
                queue.append((fn, args))
                return True
            self._queues[key] = deque([(fn, args)])
        self._pool.submit(self._run_one, key)
        return True

    def _run_one(self, key: str) -> None:
        with self._lock:
            fn, args = self._queues[key][0]
        try:
            fn(*args)
        except Exception:
            log.exception("job for %s failed", key)
        finally:
            with self._lock:
                queue = self._queues[key]
                queue.popleft()
                self._pending -= 1
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
