"""Who is acting: full `User` records (with roles) for message authors, cached for a while.

Messages carry only `{_id, username}`; permissions need roles, which change rarely, so a short
cache saves a REST call per command.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.chat.port import ChatPort
from bot.chat.types import User, UserRef
from bot.domain.bounded import BoundedCache

log = logging.getLogger("omnicat.dispatch")


#: users whose roles are cached at once (a flood of new senders evicts the oldest)
USER_CACHE_SIZE = 10_000


class UserCache:
    def __init__(
        self,
        chat: Callable[[], ChatPort | None],
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._chat, self.ttl, self.clock = chat, ttl, clock
        # bounded (issue 20): the last USER_CACHE_SIZE users seen (an entry older than `ttl`
        # is looked up again, and kept as the fallback when the lookup fails)
        self._users: BoundedCache[str, tuple[float, User]] = BoundedCache(USER_CACHE_SIZE)
        self._lock = threading.Lock()

    def get(self, ref: UserRef) -> User:
        """The full user for `ref`; without roles if the server cannot tell (never raises)."""
        now = self.clock()
        with self._lock:
            hit = self._users.get(ref.id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        user: User | None = None
        chat = self._chat()
        if chat is not None:
            try:
                user = chat.user(user_id=ref.id) if ref.id else chat.user(username=ref.username)
            except Exception:
                log.warning("cannot look up user @%s", ref.username, exc_info=True)
        if user is None:
            return hit[1] if hit else User(id=ref.id, username=ref.username, name=ref.name)
        with self._lock:
            self._users[ref.id] = (now, user)
        return user
