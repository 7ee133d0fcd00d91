"""Per-department rankings of eligible agents, kept incrementally for fast routing.

Each (department, method) pair has a heap of the agents who could take a chat right now
(available, member, under their limits), ordered by the method's key. When anything about an
agent changes, the roster re-ranks that agent in each heap that holds it: O(k log n) for an agent
in k departments. A routing decision then looks at the top of one heap instead of scanning every
agent, so it stays flat as the team grows. Stale heap entries are skipped by version and the heap
is compacted when they pile up.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection
from datetime import UTC, datetime

_NEVER = datetime.min.replace(tzinfo=UTC)

Key = Callable[[str], tuple]


class Ranking:
    def __init__(self, key: Key) -> None:
        self.key = key
        self._heap: list[tuple[tuple, int, str]] = []
        self._live: dict[str, int] = {}  # username → version of its one valid entry
        self._version = 0

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, username: str) -> bool:
        return username in self._live

    def update(self, username: str, eligible: bool) -> None:
        """(Re)rank an agent; `eligible=False` removes it."""
        self._version += 1
        if eligible:
            self._live[username] = self._version
            heapq.heappush(self._heap, (self.key(username), self._version, username))
        else:
            self._live.pop(username, None)
        if len(self._heap) > 2 * len(self._live) + 64:
            self._compact()

    def _compact(self) -> None:
        live = self._live
        self._heap = [e for e in self._heap if live.get(e[2]) == e[1]]
        heapq.heapify(self._heap)

    def best(
        self, exclude: Collection[str] = (), accept: Callable[[str], bool] | None = None
    ) -> str | None:
        """The top agent not in `exclude`. `accept` re-checks a candidate against the live
        state (defence against changes made behind the roster's back); a rejected one is
        dropped from the ranking."""
        heap, live = self._heap, self._live
        held: list[tuple[tuple, int, str]] = []
        found = None
        while heap:
            entry = heap[0]
            username = entry[2]
            if live.get(username) != entry[1]:
                heapq.heappop(heap)  # stale
                continue
            if username in exclude:
                held.append(heapq.heappop(heap))
                continue
            if accept is not None and not accept(username):
                heapq.heappop(heap)
                live.pop(username, None)
                continue
            found = username
            break
        for entry in held:
            heapq.heappush(heap, entry)
        return found


def method_key(roster: object, method: str, department: str | None) -> Key:
    """The sort key of a routing method (lowest first). See `routing.py` for the rules."""
    r = roster  # a Roster; typed loosely to avoid an import cycle
    agents = r.agents  # type: ignore[attr-defined]
    if method == "auto":
        # Round robin: lowest assignment count in the department, then configured order.
        dept = r.departments.get(department) if department else None  # type: ignore[attr-defined]
        order = {u: i for i, u in enumerate(dept.agents)} if dept else {}
        counts = r.assignments  # type: ignore[attr-defined]
        return lambda u: (counts.get((department, u), 0), order.get(u, 0), u)
    if method == "load_balancing":
        if department is None:
            totals = r.open_total  # type: ignore[attr-defined]
            return lambda u: (totals.get(u, 0), agents[u].last_assigned_at or _NEVER, u)
        by_dept = r.open_by_department  # type: ignore[attr-defined]
        return lambda u: (
            by_dept.get((u, department), 0),
            agents[u].last_assigned_at or _NEVER,
            u,
        )
    if method == "load_rotation":
        return lambda u: (agents[u].last_assigned_at or _NEVER, u)
    raise ValueError(f"unknown routing method {method!r}")
