"""What the livechat intake holds, declared once for the parts it is made of
(`bot.services.intake.livechat`): its settings, the kv marks of rooms whose opening or routing is
still to do, and the constants they share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.domain.bounded import BoundedCache

CLOSE_TYPE = "livechat-close"
#: kv key per livechat room (by rid, so it is written before the conversation's row exists)
#: whose opening or routing is still to do: "opening" (the row and its opening note are being
#: made), "wait" (the visitor has not written yet) — routing is held for both, see
#: `waits_for_first_line` — or "route" (they have; routing and the visitor's answer are due).
#: Cleared once all is done, so a crash anywhere in between redoes what is left.
_PENDING_KEY = "livechat-pending:"
OPENING, WAIT, ROUTE = "opening", "wait", "route"
VISITOR_CLOSED = "Closed by the visitor"
CLOSED_IN_RC = "Closed in Rocket.Chat"


class LivechatState:
    """The state of `LivechatIntake`; `LivechatOpening` and `LivechatFollowing` build on it."""

    def __init__(self, services: Any, *, submit: Any = None) -> None:
        """`services`: a `bot.services.build.Core`."""
        self.services = services
        #: `App.rooms.submit(key, fn, *args)`: work on a room's serial queue
        self.submit = submit or (lambda _key, fn, *args: fn(*args))
        # bounded (issue 20): department id -> name, for a day, at most 1,000 departments
        self._department_names: BoundedCache[str, str | None] = BoundedCache(1_000, ttl=86_400)

    if TYPE_CHECKING:  # made by `LivechatFollowing`; opening a room closes a stale one with it

        def closed_outside(self, number: int, by: str, *, visitor: bool) -> None: ...

    @property
    def settings(self) -> Any:
        return self.services.config.intake.livechat

    @property
    def enabled(self) -> bool:
        return bool(self.settings.enabled)

    def _pending_of(self, rid: str | None) -> str | None:
        return self.services.store.kv_get(_PENDING_KEY + rid) if rid else None

    def _mark(self, rid: str | None, value: str | None) -> None:
        if rid:
            self.services.store.kv_set(_PENDING_KEY + rid, value)
