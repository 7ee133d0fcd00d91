"""Sends not waited for (`RocketChatClient.send_soon`): one per room at a time.

A message goes out over DDP and the sender goes on; the server's answer is read by the reader
thread, which wakes nobody. `InFlightSend.settle()` takes that answer later and finishes the send
as `send` would have (REST when DDP failed or stored nothing, a rate limit waited out), or
reports it lost. It is a gate of the event that sent it (`bot.chat.gates`): the event is marked
processed only after it settled.

Order within a room is kept: before anything else is sent to a room (a send of either kind, a
post, an upload), the room's send in flight is settled, so a message the server refused and
that REST then stores still lands before the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bot.chat.errors import RocketChatError

#: `finish(message, answer)`: the send finished from the DDP answer (what `send` returns)
Finish = Callable[[dict[str, Any], Callable[[float], Any]], Any]
Lost = Callable[[RocketChatError], None]


class InFlightSend:
    def __init__(
        self,
        message: dict[str, Any],
        answer: Callable[[float], Any],
        finish: Finish,
        lost: Lost,
        done: Callable[[InFlightSend], None],
    ) -> None:
        self.message = message
        self._answer, self._finish, self._lost, self._done = answer, finish, lost, done
        self._lock = threading.Lock()
        self._settled = False

    @property
    def rid(self) -> str:
        return str(self.message["rid"])

    def settle(self) -> None:
        failure: RocketChatError | None = None
        with self._lock:  # a second settler waits for the first one's outcome
            if self._settled:
                return
            try:
                self._finish(self.message, self._answer)
            except RocketChatError as exc:
                failure = exc
            finally:
                self._settled = True
                self._done(self)
        if failure is not None:  # outside the lock: the report may go to the same room
            self._lost(failure)


class InFlight:
    """The rooms' sends in flight (one per room, unless two threads send to a room at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, list[InFlightSend]] = {}

    def start(self, send: InFlightSend) -> None:
        with self._lock:
            self._rooms.setdefault(send.rid, []).append(send)

    def settle(self, rid: str) -> None:
        """The room's sends in flight, settled in the order they went out (nothing when there
        is none)."""
        with self._lock:
            sends = list(self._rooms.get(rid, ()))
        for send in sends:
            send.settle()

    def done(self, send: InFlightSend) -> None:
        with self._lock:
            sends = self._rooms.get(send.rid)
            if sends is not None and send in sends:
                sends.remove(send)
                if not sends:
                    del self._rooms[send.rid]

    def __len__(self) -> int:
        with self._lock:
            return sum(len(sends) for sends in self._rooms.values())
