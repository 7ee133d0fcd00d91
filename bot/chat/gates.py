"""Gates: work an event's handling started and did not wait for, finished before the event
counts as processed.

A command's answer is sent over DDP and, until now, its handler waited for the server's
`result` before going on: a thread asleep and woken for every command, a sixth of a command's
CPU. The handler needs nothing from that result. So the answer may go out unawaited
(`RocketChatClient.send_soon`) and become a gate of the event: the event's processed mark is
written only after every gate settled, which means the server stored the message, or the
usual fallbacks (REST, the rate limit waited out) stored it, or it was reported lost. A crash
before that replays the event, and the replay's message, under the same derived id, is stored
once (`bot.chat.effect_scope`).

`collecting()` opens the gates of one event's handling (the dispatcher does, around the
handlers); `hold(gate)` adds one, or, where nobody collects (a job on another thread, a test
without a dispatcher) or the handling is over, settles it at once, which is waiting as before.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

log = logging.getLogger("omnicat.chat")


class Gate(Protocol):
    def settle(self) -> None:
        """Finish the work (idempotent, any thread; returns once it is finished)."""


class Gates:
    """The gates of one event's handling."""

    def __init__(self) -> None:
        self._gates: list[Gate] = []
        self._lock = threading.Lock()
        self._closed = False

    def hold(self, gate: Gate) -> bool:
        """Keep `gate` for later; False once closed (the caller settles it)."""
        with self._lock:
            if self._closed:
                return False
            self._gates.append(gate)
            return True

    def close(self) -> list[Gate]:
        """No more gates; the ones held."""
        with self._lock:
            self._closed = True
            return list(self._gates)


_current: contextvars.ContextVar[Gates | None] = contextvars.ContextVar(
    "omnicat_gates", default=None
)


@contextmanager
def collecting() -> Iterator[Gates]:
    """The gates opened inside this block (`Gates.close()` them when it is done)."""
    gates = Gates()
    token = _current.set(gates)
    try:
        yield gates
    finally:
        _current.reset(token)
        gates.close()


def collecting_now() -> bool:
    """Whether a gate held now would be kept (else it is settled at once)."""
    return _current.get() is not None


def hold(gate: Gate) -> None:
    """`gate` kept by the event's handling, or settled now where nobody collects."""
    gates = _current.get()
    if gates is None or not gates.hold(gate):
        gate.settle()


def settle_all(gates: list[Gate]) -> None:
    """Settle each (a failure is logged: the others still settle)."""
    for gate in gates:
        try:
            gate.settle()
        except Exception:
            log.exception("finishing a message the bot sent failed")
