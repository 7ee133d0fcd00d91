"""Work beside the message path: slow jobs (PDF, e-mail) and pruning the processed marks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import timedelta
from typing import Any

log = logging.getLogger("omnicat.app")


class SlowJobs:
    """A small pool for PDF/e-mail work off the event path; failures are logged."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slow")
        self._lock = threading.Lock()
        self._jobs: set[Future[Any]] = set()

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        future = self._pool.submit(fn, *args, **kwargs)
        with self._lock:
            self._jobs.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._jobs.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("slow job failed", exc_info=future.exception())

    @property
    def pending(self) -> int:
        """How many jobs are queued or running."""
        with self._lock:
            return len(self._jobs)

    def stop(self, timeout: float) -> bool:
        """Wait for the jobs (up to `timeout`), then shut the pool; False if some were left."""
        with self._lock:
            jobs = set(self._jobs)
        _, pending = wait_futures(jobs, timeout=max(0.0, timeout))
        self._pool.shutdown(wait=not pending, cancel_futures=bool(pending))
        return not pending


class Pruner:
    """Forgets processed marks far behind their room's cursor (`Store.prune_processed`), now
    and every `every` seconds until `stop()`. Without it `processed_messages` grows by a row
    per message forever.

    Safe at any time, also while catch-up replays: catch-up needs the marks since the cursor,
    and a re-emitted message older than the cursor minus `STALE_GRACE` is ignored as stale
    whether marked or not; the margin covers that and clock skew."""

    def __init__(self, store: Any, every: float, margin: timedelta) -> None:
        self.store, self.every, self.margin = store, every, margin
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def prune(self) -> int:
        prune = getattr(self.store, "prune_processed", None)
        if prune is None:
            return 0
        forgotten = int(prune(self.margin))
        if forgotten:
            log.info("forgot %d processed message mark(s)", forgotten)
        return forgotten

    def start(self) -> None:
        """One pruner thread per dispatcher, whatever the reconnects."""
        with self._lock:
            if self._thread is not None or self.every <= 0 or self._stopping.is_set():
                return
            self._thread = threading.Thread(target=self._loop, name="prune", daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """Whether the pruner thread was started and has not ended yet."""
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    @property
    def started(self) -> bool:
        with self._lock:
            return self._thread is not None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.prune()
            except Exception:
                log.warning("pruning processed messages failed", exc_info=True)
            if self._stopping.wait(self.every):
                return

    def halt(self) -> None:
        """No new prune starts from here on."""
        self._stopping.set()

    def stop(self, timeout: float) -> None:
        """A prune in progress finishes (the store is closed after)."""
        self._stopping.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(max(0.0, timeout))
