"""What the agents' use cases (`bot.services.conversations`, `bot.services.transfers`) share:
the services they decide and act through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.config.schema import Config
from bot.domain import Roster, Router
from bot.services.directory import Directory
from bot.services.effects import Effects
from bot.services.posting import Posting
from bot.services.queue import QueueView
from bot.services.routing import Routing
from bot.services.transitions import Transitions
from bot.store.conversations import ConversationRepo


class UseCases:
    """Commands call the subclasses; every decision is one `Transitions.transition`, every
    effect after its commit, the conversation held throughout (`one_conversation`)."""

    def __init__(
        self,
        *,
        config: Config,
        clock: Callable[[], datetime],
        directory: Directory,
        transitions: Transitions,
        queue: QueueView,
        posting: Posting,
        effects: Effects,
        routing: Routing,
        repo: ConversationRepo,
        roster: Roster,
        router: Router,
    ) -> None:
        self.config = config
        self.clock = clock
        self.directory = directory
        self.perms = directory.perms
        self.transitions = transitions
        self.queue = queue
        self.posting = posting
        self.effects = effects
        self.routing = routing
        self.repo = repo
        self.roster = roster
        self.router = router
