"""Bounded memory for anything keyed by what users send (issue 20: bounded by construction).

Every cache or per-user structure the bot keeps in memory is one of these, with its bound
written where it is declared: a size (least recently used entries go first) and, where a stale
entry would be wrong, an age. `cachetools` does the bookkeeping; this adds the lock (room
workers read and write the same cache from several threads, and an LRU read reorders).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

from cachetools import LRUCache, TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING: Any = object()


class BoundedCache(Generic[K, V]):
    """A thread-safe mapping of at most `maxsize` entries, each kept at most `ttl` seconds
    (None: no age bound). Lookups of evicted or expired keys miss, as if never stored."""

    def __init__(self, maxsize: int, ttl: float | None = None) -> None:
        self.maxsize, self.ttl = maxsize, ttl
        self._data: LRUCache[K, V] = (
            TTLCache(maxsize=maxsize, ttl=ttl) if ttl is not None else LRUCache(maxsize=maxsize)
        )
        self._lock = threading.Lock()

    def get(self, key: K, default: Any = None) -> Any:
        with self._lock:
            return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._data

    def __getitem__(self, key: K) -> V:
        with self._lock:
            return self._data[key]

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._data[key] = value

    def setdefault(self, key: K, value: V) -> V:
        with self._lock:
            found = self._data.get(key, _MISSING)
            if found is _MISSING:
                self._data[key] = value
                return value
            return found

    def pop(self, key: K, default: Any = None) -> Any:
        with self._lock:
            return self._data.pop(key, default)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
