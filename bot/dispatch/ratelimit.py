"""The per-user command rate limit: a token bucket, and telling the sender what did not run.

Each user has a bucket of `burst` tokens that refills at `per_second`; a command takes one. A
person working quickly never comes near it (Rocket.Chat itself lets a user send 5 messages a
second); it is there to stop a runaway script from making the bot flood a room with replies.

A refused command is never dropped in silence: the first few refusals are answered at once,
naming the command and when to send it again; after that (a script, not a person) the refused
commands are gathered and named together in one summary per room every `NOTICE_EVERY` seconds,
so a flood of 200 commands gets a handful of replies and still every command is accounted for.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: the defaults of `commands.rate_limit` (config/omnicat.yaml)
DEFAULT_BURST = 20
DEFAULT_PER_SECOND = 2.0
#: refusal notices a user gets at once, then one summary per this many seconds
#: `per` of the older spelling when only `count` is given (its default then)
LEGACY_PER = 10.0
NOTICE_BURST = 3
NOTICE_EVERY = 5.0
#: how much of a refused command a notice quotes, and how many distinct ones a summary lists
QUOTE_CHARS = 80
SUMMARY_ITEMS = 30
#: bounds of the refusal summaries waiting for their timer (issue 20): distinct texts kept per
#: place (the rest are only counted, as "and N other commands"), and users waiting at once (a
#: refusal beyond that gets no notice: a flood of that many senders in one NOTICE_EVERY window)
PENDING_TEXTS = SUMMARY_ITEMS
PENDING_USERS = 1_000
#: buckets kept (one per sender): full ones are dropped first, then the least recently used half
BUCKETS_KEPT = 10_000
#: the key under which the texts beyond PENDING_TEXTS are counted (never a quoted command)
_OTHERS = "\x00others"


def settings_of(rate: Any) -> tuple[int, float]:
    """(burst, per_second) from the `commands.rate_limit` section, also in its older spelling:
    `count` per `per` becomes a bucket of `count` refilled at `count / per` (the same average,
    the same largest burst). A burst of 0 means unlimited."""
    if rate is None:
        return DEFAULT_BURST, DEFAULT_PER_SECOND
    count = getattr(rate, "count", None)
    if count is not None:
        per = getattr(rate, "per", None)
        if per is None:
            seconds = LEGACY_PER
        else:
            seconds = per.total_seconds() if hasattr(per, "total_seconds") else float(per)
        if count <= 0 or seconds <= 0:
            return 0, 0.0
        return int(count), count / seconds
    return int(getattr(rate, "burst", DEFAULT_BURST)), float(
        getattr(rate, "per_second", DEFAULT_PER_SECOND)
    )


def describe(burst: int, per_second: float) -> str:
    """The limit in words: "20 at once, then 2 per second"."""
    return f"{burst} at once, then {pace(per_second)}"


def pace(per_second: float) -> str:
    if per_second >= 1:
        return f"{per_second:g} per second"
    return f"one every {math.ceil(1 / per_second)} s"


class TokenBucket:
    """Per key, `burst` tokens refilled at `per_second`; `burst <= 0` disables the limit."""

    def __init__(
        self, burst: int, per_second: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst, self.per_second, self.clock = burst, per_second, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self.burst <= 0

    def take(self, key: str) -> float:
        """Take a token for `key`: 0.0 if there was one, else the seconds until there is."""
        if self.unlimited:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if self.per_second <= 0:
                return math.inf
            return (1.0 - tokens) / self.per_second

    def wait(self, key: str) -> float:
        """Seconds until `key` has a token (0.0 when it has one now); takes nothing."""
        if self.unlimited:
            return 0.0
        with self._lock:
            tokens = self._tokens(key, self.clock())
        if tokens >= 1.0:
            return 0.0
        return math.inf if self.per_second <= 0 else (1.0 - tokens) / self.per_second

    def _tokens(self, key: str, now: float) -> float:
        held = self._buckets.get(key)
        if held is None:
            if len(self._buckets) >= BUCKETS_KEPT:
                self._forget_full(now)
            return float(self.burst)
        tokens, at = held
        return min(float(self.burst), tokens + max(0.0, now - at) * self.per_second)

    def _forget_full(self, now: float) -> None:
        """A full bucket is the same as none: drop those so the table stays small."""
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + max(0.0, now - at) * self.per_second >= self.burst:
                del self._buckets[key]
        if len(self._buckets) >= BUCKETS_KEPT:
            # every sender is over the limit (a flood of new names): a dropped sender starts
            # with a full bucket again, which bounds the table at the price of a little slack
            by_age = sorted(self._buckets.items(), key=lambda item: item[1][1])
            for key, _ in by_age[: len(by_age) // 2]:
                del self._buckets[key]


def quote(text: str) -> str:
    """A command as a notice shows it: one line, no backticks, not too long."""
    line = " ".join(text.split()).replace("`", "'")
    return line if len(line) <= QUOTE_CHARS else line[: QUOTE_CHARS - 1] + "…"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    #: what to answer now, in the command's room (None: allowed, or named in a later summary)
    notice: str | None = None


#: where a command came from: (room id, thread id or None)
Place = tuple[str, str | None]


class CommandLimit:
    """The rate limit and its notices. `admit` runs on the room's worker; `deliver(rid, tmid,
    text)` is called from a timer thread with the summaries (the App queues them behind the
    room's work, so a summary never overtakes the commands it is about)."""

    def __init__(
        self,
        burst: int,
        per_second: float,
        *,
        deliver: Callable[[str, str | None, str], None],
        clock: Callable[[], float] = time.monotonic,
        notice_every: float = NOTICE_EVERY,
    ) -> None:
        self.bucket = TokenBucket(burst, per_second, clock)
        self.notices = TokenBucket(NOTICE_BURST, 1.0 / notice_every, clock)
        self.notice_every = notice_every
        self._deliver = deliver
        # per user: per place, refused command text -> how many times (in order of refusal)
        self._pending: dict[str, dict[Place, dict[str, int]]] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        self._closed = False

    def admit(
        self, who: str, text: str, place: Place | Callable[[], Place | None] | None
    ) -> Verdict:
        """Whether `who` may run `text` now; a refusal's notice is for `place` (asked only
        then when it is a function; None: nowhere to tell them, so no notice, no summary)."""
        wait = self.bucket.take(who)
        if wait == 0.0:
            return Verdict(True)
        if callable(place):
            place = place()
        if place is None:
            return Verdict(False)
        with self._lock:
            if self._closed or (who not in self._pending and self.notices.take(who) == 0.0):
                return Verdict(False, self.refusal(text, wait))
            if who not in self._pending and len(self._pending) >= PENDING_USERS:
                log.debug("refusal summaries full: @%s's refusal goes unsaid", who)
                return Verdict(False)
            texts = self._pending.setdefault(who, {}).setdefault(place, {})
            key = quote(text)
            if key not in texts and len(texts) >= PENDING_TEXTS:
                key = _OTHERS
            texts[key] = texts.get(key, 0) + 1
            if who not in self._timers and not self._closed:
                delay = max(self.notices.wait(who), 0.5)
                timer = threading.Timer(delay, self._due, args=(who,))
                timer.daemon = True
                timer.name = "refusals"
                self._timers[who] = timer
                timer.start()
        return Verdict(False)

    def refusal(self, text: str, wait: float) -> str:
        seconds = max(1, math.ceil(wait)) if math.isfinite(wait) else None
        when = f"Send it again in {seconds} s." if seconds else "Commands are switched off."
        return (
            f"Too many commands at once (the limit is {self.limit_text}): "
            f"I did not run `{quote(text)}`. {when}"
        )

    @property
    def limit_text(self) -> str:
        return describe(self.bucket.burst, self.bucket.per_second)

    def summary(self, texts: dict[str, int]) -> str:
        total = sum(texts.values())
        others = texts.get(_OTHERS, 0)
        texts = {text: count for text, count in texts.items() if text != _OTHERS}
        items = [
            f"`{text}`" + (f" ({count} times)" if count > 1 else "")
            for text, count in list(texts.items())[:SUMMARY_ITEMS]
        ]
        rest = sum(list(texts.values())[SUMMARY_ITEMS:]) + others
        if rest:
            items.append(f"and {rest} other command{'s' if rest > 1 else ''}")
        what = "this command" if total == 1 else f"these {total} commands"
        return (
            f"Still too many commands at once (the limit is {self.limit_text}): "
            f"I did not run {what} either: {', '.join(items)}. "
            f"Send again what you still need, at most {pace(self.bucket.per_second)}."
        )

    def _due(self, who: str) -> None:
        with self._lock:
            self._timers.pop(who, None)
            pending = self._pending.pop(who, None)
            self.notices.take(who)  # this summary is the notice the timer was planned for
        self._send(pending)

    def _send(self, pending: dict[Place, dict[str, int]] | None) -> None:
        for (rid, tmid), texts in (pending or {}).items():
            self._deliver(rid, tmid, self.summary(texts))

    def close(self) -> None:
        """Stop the timers and deliver every pending summary now (a clean stop loses none)."""
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, {}
            pending, self._pending = self._pending, {}
        for timer in timers.values():
            timer.cancel()
        for per_user in pending.values():
            self._send(per_user)
