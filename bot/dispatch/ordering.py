"""Per-room FIFO on a bounded thread pool.

Each room (key) has a queue; at most one worker drains a room at a time, so one room's events never
overtake each other, while different rooms run concurrently. A worker runs one job and then
re-submits the room behind the others, so a busy room cannot starve the rest.

`submit_batch(key, fn, item)` queues an item for a batch function. A worker that finds such an
item at the head of a room's queue takes the run of items for the same `fn` there, and the runs
at the head of other rooms that no worker holds, and calls `fn(items)` once (at most `max_batch`
items; each room's items in order and together). Those rooms are held meanwhile, as if their
worker ran. That is how a burst of messages, in one room or across many, is stored in one
transaction instead of one each.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any

log = logging.getLogger("omnicat.dispatch")


class _Workers:
    """Up to `max_workers` threads running callables from one queue, started as needed: what
    `ThreadPoolExecutor` does for us, without its Future and work item per job, whose
    bookkeeping (a condition variable each, set running, set result) cost three times the
    hand-off itself, once per message. Nobody waits on a room job's result."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max, self._name = max_workers, name
        self._jobs: SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = SimpleQueue()
        #: a token per job finished: a worker free again (ThreadPoolExecutor's idle semaphore)
        self._idle: SimpleQueue[None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut = False  # no worker starts after `shutdown`: each got its end-of-work mark

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self._jobs.put((fn, args))
        try:
            self._idle.get_nowait()  # a waiting worker takes it
        except Empty:
            with self._lock:
                if not self._shut and len(self._threads) < self._max:
                    thread = threading.Thread(
                        target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                    )
                    self._threads.append(thread)
                    thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, args = job
            try:
                fn(*args)
            except Exception:
                log.exception("room worker job failed")
            self._idle.put(None)  # after the job, as the executor does: a started worker is busy

    def shutdown(self, wait: bool) -> None:
        """Drop the jobs not started, let each worker finish its own, then end them."""
        while True:
            try:
                self._jobs.get_nowait()
            except Empty:
                break
        with self._lock:
            # a job handed over just now may still be starting its worker: not after this
            self._shut = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()


_Job = tuple[Callable[..., Any], tuple[Any, ...], bool]  # fn, args, is a batch item


class KeyedSerialExecutor:
    def __init__(self, max_workers: int = 8, name: str = "room", max_batch: int = 256) -> None:
        self._pool = _Workers(max_workers, name)
        self.max_batch = max_batch
        self._queues: dict[str, deque[_Job]] = {}
        # Invariant: a key with a non-empty queue is held by a worker (`_held`) or has a pool
        # task on the way (`_tasks`, a count: a task can outlive the queue it was made for).
        self._held: set[str] = set()
        self._tasks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._closed = False

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> bool:
        """Queue `fn(*args)` behind the other jobs of `key`; False once stopped."""
        return self._submit(key, (fn, args, False))

    def submit_batch(self, key: str, fn: Callable[[list[Any]], Any], item: Any) -> bool:
        """Queue `item` behind the other jobs of `key`, to be handled as `fn([item, ...])`
        with the items queued right behind it for the same `fn` (and other rooms' items at
        the head of their queues); False once stopped."""
        return self._submit(key, (fn, (item,), True))

    def _submit(self, key: str, job: _Job) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._pending += 1
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = deque()
            queue.append(job)
            if key in self._held or self._tasks.get(key):
                return True
            self._tasks[key] = 1
        self._pool.submit(self._run_one, key)
        return True

    def _run_one(self, key: str) -> None:
        with self._lock:
            left = self._tasks.get(key, 1) - 1
            if left > 0:
                self._tasks[key] = left
            else:
                self._tasks.pop(key, None)
            queue = self._queues.get(key)
            if key in self._held or not queue:
                return  # a batch of another worker holds (or emptied) the room
            self._held.add(key)
            fn, args, batch = queue[0]
            taken = {key: 1}
            if batch:
                items: list[Any] = []
                taken = {key: self._take_run(queue, fn, items)}
                for other, other_queue in self._queues.items():
                    if len(items) >= self.max_batch:
                        break
                    if other in self._held or not other_queue:
                        continue
                    head_fn, _args, head_batch = other_queue[0]
                    if head_batch and head_fn == fn:
                        self._held.add(other)
                        taken[other] = self._take_run(other_queue, fn, items)
                args = (items,)
        try:
            fn(*args)
        except Exception:
            log.exception("job for %s failed", key)
        finally:
            again: list[str] = []
            with self._lock:
                for held, count in taken.items():
                    queue = self._queues[held]
                    for _ in range(count):
                        queue.popleft()
                    self._pending -= count
                    self._held.discard(held)
                    if not queue:
                        del self._queues[held]
                    elif not self._tasks.get(held):
                        self._tasks[held] = 1
                        again.append(held)
                if self._pending == 0:
                    self._idle.notify_all()
            for held in again:  # behind the other rooms
                self._pool.submit(self._run_one, held)

    def _take_run(self, queue: deque[_Job], fn: Callable[..., Any], items: list[Any]) -> int:
        """Append the run of `fn` items at the head of `queue` to `items` (within
        `max_batch`; at least one); how many. Bound methods compare equal, not identical."""
        count = 0
        for job_fn, job_args, job_batch in queue:
            if count and (len(items) >= self.max_batch or not job_batch or job_fn != fn):
                break
            items.append(job_args[0])
            count += 1
        return count

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
        self._pool.shutdown(wait=done)
        return done
