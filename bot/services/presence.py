"""Agents' availability (`/status`) and the server's presence: offline agents get no chats;
an agent who becomes available gets what waits for them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bot.chat.errors import RocketChatError
from bot.chat.types import User
from bot.domain import Availability, Refused, Roster
from bot.services.directory import Directory
from bot.services.routing import Routing
from bot.store.conversations import ConversationRepo

log = logging.getLogger("omnicat.workflow")

#: `callback(username)` after an agent's `/status` changed (timers re-arm)
StatusHook = Callable[[str], None]


class Presence:
    def __init__(
        self, directory: Directory, routing: Routing, repo: ConversationRepo, roster: Roster
    ) -> None:
        self.directory = directory
        self.routing = routing
        self.repo = repo
        self.roster = roster
        self._loaded = False
        self._lock = threading.Lock()
        self._status_hooks: list[StatusHook] = []

    def on_status(self, callback: StatusHook) -> None:
        self._status_hooks.append(callback)

    def set_status(self, user: User, availability: str, *, route: bool = True) -> Availability:
        """Set `/status`; becoming available routes what waits (`route=False`: the caller
        calls `agent_freed` itself, e.g. after answering first)."""
        if not self.directory.is_agent(user):
            raise Refused("You are not an Omnichannel agent.", "error-user-is-not-agent")
        value = Availability(availability)
        self.directory.seen_active(user)
        self.roster.set_availability(user.username, value)
        self.repo.set_availability(user.username, value.value)
        if route and value is Availability.AVAILABLE:
            self.routing.agent_freed(user.username, became_available=True)
        for hook in list(self._status_hooks):
            hook(user.username)
        return value

    def status_of(self, username: str) -> tuple[Availability, str]:
        agent = self.roster.agent(username)
        return agent.availability, agent.presence

    def on_presence(self, user_id: str, username: str, status: str) -> None:
        """Server presence (`App.on_presence`): offline agents get no chats."""
        agent = self.roster.agents.get(username)
        if agent is None:
            return
        was_offline = agent.presence == "offline"
        self.roster.set_presence(username, status)
        if status != "offline" and was_offline and agent.availability is Availability.AVAILABLE:
            self.routing.agent_freed(username, became_available=True)

    def load_presence(self, *, force: bool = False) -> None:
        """Ask the server for every available agent's presence, once per connection.

        Called lazily before the first decision that needs it: after a restart the catch-up
        replays messages (a contact writing in a held chat) before the connected hook runs,
        and those decisions must not see every agent as offline."""
        if self._loaded and not force:
            return
        with self._lock:
            if self._loaded and not force:
                return
            for username, agent in list(self.roster.agents.items()):
                if agent.availability is not Availability.AVAILABLE:
                    continue
                user = self.directory.user(username)
                if user is None:
                    continue
                try:
                    self.roster.set_presence(username, self.directory.chat.presence(user.id))
                except RocketChatError:
                    log.warning("cannot read the presence of @%s", username, exc_info=True)
            self._loaded = True

    def refresh_presence(self) -> None:
        """At (re)connect: presence from the server, then route what waits."""
        self.load_presence(force=True)
        self.routing.route_waiting()
