"""A sliding-window rate limit per key (user), with one warning per burst."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from enum import Enum


class Decision(Enum):
    ALLOW = "allow"
    WARN = "warn"  # the first refusal of a burst: tell the user once
    DENY = "deny"  # later refusals of the same burst: stay silent


class RateLimiter:
    """At most `count` events per `per` seconds per key; `count <= 0` disables the limit."""

    def __init__(self, count: int, per: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.count, self.per, self.clock = count, per, clock
        self._events: dict[str, deque[float]] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def check(self, key: str) -> Decision:
        if self.count <= 0:
            return Decision.ALLOW
        now = self.clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.per:
                events.popleft()
            if len(events) < self.count:
                events.append(now)
                self._warned.discard(key)
                return Decision.ALLOW
            if key in self._warned:
                return Decision.DENY
            self._warned.add(key)
            return Decision.WARN

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may act again (0 when it may now)."""
        with self._lock:
            events = self._events.get(key)
            if not events or len(events) < self.count:
                return 0.0
            return max(0.0, events[0] + self.per - self.clock())
