"""Rate limiters shaped like Rocket.Chat's: a fixed window per key, off by default."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_ms: int  # absolute epoch ms when the window resets
    time_to_reset_ms: int


class FixedWindow:
    """Counts calls per key in windows that start at the first call (RC's RateLimiter)."""

    def __init__(self, calls: int, window_ms: int) -> None:
        self.calls = calls
        self.window_ms = window_ms
        self._windows: dict[object, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: object) -> Verdict:
        now_ms = time.time() * 1000
        with self._lock:
            start, count = self._windows.get(key, (now_ms, 0))
            if now_ms - start >= self.window_ms:
                start, count = now_ms, 0
            count += 1
            self._windows[key] = (start, count)
        reset = int(start + self.window_ms)
        return Verdict(
            allowed=count <= self.calls,
            limit=self.calls,
            remaining=max(0, self.calls - count),
            reset_ms=reset,
            time_to_reset_ms=max(0, int(reset - now_ms)),
        )


@dataclass
class RateLimits:
    enabled: bool = False
    rest_calls: int = 10
    rest_window_ms: int = 60_000
    send_message_per_sec: int = 5
    exempt_bots: bool = True

    def __post_init__(self) -> None:
        self.rest = FixedWindow(self.rest_calls, self.rest_window_ms)
        self.send_message = FixedWindow(self.send_message_per_sec, 1000)
        self.create_dm = FixedWindow(10, 60_000)
