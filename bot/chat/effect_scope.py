"""Effect scopes: deterministic ids for what the bot sends in reaction to one event.

A reply that went out just before a crash, a takeover or a reconnect is sent again when its
event is replayed. If the reply carries the same `_id` both times, Rocket.Chat keeps one copy:
`sendMessage` / `chat.sendMessage` take a client-chosen `_id`, and a second insert under an
existing id stores nothing (current RC returns early, older RC fails on the duplicate key; see
`bot.rocketchat.client` for how either answer counts as delivered).

So the ids are derived, not drawn: whoever handles an event opens a scope named after that
event (`effect_scope("msg:<id>:<revision>")`, `"timer:<job>:<due>"`, `"transition:<row>"`), and
the transport asks the scope for the next id of each message it sends
(`next_message_id(rid)`). The id is a hash of the scope's key, the target room and the
effect's place among the scope's effects for that room, so the same handler replaying the same
event produces the same ids in the same order. Counting per room keeps a replay that reaches
the rooms in another order from reusing one room's id in another. Within a room the places
count apart per thread and per role (`role("reply")` for a command's answer, a customer
catalogue entry, a queue notice): a replay whose transition is refused now sends fewer
messages, and its answer must take the first answer's id, not that of a note it skipped (the
duplicate refusal counts as delivered, so the answer would be lost).

The scope lives in a `contextvars.ContextVar`: it follows the handler down every call without
being passed, and stays out of threads it does not own. Work handed to another thread carries
a child scope (`carry(fn)`), keyed by its place among the parent's hand-offs, so its ids are as
stable as the parent's.

Outside any scope `next_message_id` returns None and the transport draws a random id, as
before (a startup notice, an ops command from the console).
"""

from __future__ import annotations

import contextvars
import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

#: Meteor's `Random.id` alphabet: Rocket.Chat's message ids are 17 of these
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
ID_LENGTH = 17

T = TypeVar("T")


def derive_id(*parts: str) -> str:
    """A 17-character Meteor-style id from `parts` (SHA-256, read as one big number).

    55**17 is about 2**98: two effects colliding is as likely as with `Random.id`."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(ID_LENGTH):
        number, index = divmod(number, len(ID_ALPHABET))
        chars.append(ID_ALPHABET[index])
    return "".join(chars)


class EffectScope:
    """One event's effects: a key and, per target, how many effects it has had so far.

    Bounded: one counter per room the handler sent to (a handler touches a few rooms), and the
    scope lives only as long as the event's handling."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()  # a handler may send from two threads it started

    def _next(self, slot: str) -> int:
        with self._lock:
            n = self._counts.get(slot, 0)
            self._counts[slot] = n + 1
            return n

    def message_id(self, target: str, thread: str | None = None, role: str = "") -> str:
        """The id of this scope's next message to `target` (a room id, or a DM's username),
        counted apart per thread and per role (`with role(...)`): a replay that takes
        another path (the transition it repeats is refused now) sends fewer or other
        messages, and its answer must not take the id of a note the first run sent before
        the answer in the same room (which would count as delivered, and the answer be lost)."""
        if not thread and not role:
            n = self._next("m\x1f" + target)
            return derive_id(self.key, target, str(n))
        slot = "\x1f".join((target, thread or "", role))
        n = self._next("m\x1f" + slot)
        return derive_id(self.key, slot, str(n))

    def effect_key(self, kind: str) -> str:
        """A stable key for this scope's next effect of `kind` that is not a message (an upload,
        an e-mail): the effect journal's key."""
        n = self._next("e\x1f" + kind)
        return f"{self.key}/{kind}#{n}"

    def child(self, label: str) -> EffectScope:
        """The scope of work this one hands to another thread: `<key>/<label>#<n>`."""
        n = self._next("c\x1f" + label)
        return EffectScope(f"{self.key}/{label}#{n}")


_current: contextvars.ContextVar[EffectScope | None] = contextvars.ContextVar(
    "omnicat_effect_scope", default=None
)
#: what the messages sent now are (`role`): each role counts its own places
_role: contextvars.ContextVar[str] = contextvars.ContextVar("omnicat_effect_role", default="")


def current() -> EffectScope | None:
    return _current.get()


@contextmanager
def effect_scope(key: str) -> Iterator[EffectScope]:
    """Run the enclosed handling under a scope named `key` (restored on exit)."""
    scope = EffectScope(key)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


@contextmanager
def entered(scope: EffectScope | None) -> Iterator[None]:
    """Run the block under `scope` again (work of that event finished later, elsewhere: its
    ids go on counting where the event left them); None: under no scope."""
    token = _current.set(scope)
    try:
        yield
    finally:
        _current.reset(token)


@contextmanager
def role(name: str) -> Iterator[None]:
    """Messages sent in the block play the role `name` (a command's answer, a customer text,
    a queue notice): their places are counted apart from the scope's other messages to the
    same room, so one role's messages keep their ids whatever the others do on a replay."""
    token = _role.set(name)
    try:
        yield
    finally:
        _role.reset(token)


def message_key(message_id: str, revision: str) -> str:
    """The scope key of a chat message's handling: its id and content revision (an edited
    command is a new event, with new replies)."""
    return f"msg:{message_id}:{revision}"


def timer_key(job_id: object, due: object) -> str:
    """The scope key of a timer firing: the job and the time it was due (a re-armed job that
    fires again later is a new event)."""
    return f"timer:{job_id}:{due}"


def transition_key(event_row_id: object) -> str:
    """The scope key of the effects of one stored transition (its events row)."""
    return f"transition:{event_row_id}"


def next_message_id(target: str, thread: str | None = None) -> str | None:
    """The derived id of the next message to `target` (in `thread`, in the current role), or
    None outside any scope."""
    scope = _current.get()
    return scope.message_id(target, thread, _role.get()) if scope is not None else None


def next_effect_key(kind: str) -> str | None:
    scope = _current.get()
    return scope.effect_key(kind) if scope is not None else None


def carry(fn: Callable[..., T], label: str = "job") -> Callable[..., T]:
    """`fn` wrapped to run, in whatever thread, under a child of the caller's scope (or under
    no scope when the caller has none)."""
    scope = _current.get()
    if scope is None:
        return fn
    child = scope.child(label)

    def run(*args: Any, **kwargs: Any) -> T:
        token = _current.set(child)
        try:
            return fn(*args, **kwargs)
        finally:
            _current.reset(token)

    return run
