"""The agent console (DESIGN "The agent console"): the agent's DM with the bot, one thread per
conversation the agent serves. The thread's root names the chat; the bot's agent-only notes
about it go into the thread, and a command typed there acts on it (`conversation_of`).

Agent-only texts reach agents only through here (`Posting.tell_agents`), so they never land in
a room a customer reads.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from bot.chat.effect_scope import effect_scope
from bot.chat.errors import RocketChatError
from bot.domain import Conversation
from bot.domain.clock import utc_now
from bot.services import notify
from bot.services.directory import Directory
from bot.services.queue import QueueView
from bot.store.console import ConsoleRepo, ConsoleThread
from bot.store.messages import MessageRepo

log = logging.getLogger("omnicat.workflow.console")


class Console:
    def __init__(
        self,
        directory: Directory,
        repo: ConsoleRepo,
        messages: MessageRepo,
        queue: QueueView,
    ) -> None:
        self.directory = directory
        self.repo = repo
        self.messages = messages
        self.queue = queue
        #: the customer room's link (`Effects.room_link`), set once effects exist
        self.room_link: Callable[[Conversation], str] = lambda conv: conv.rid or ""

    def root_text(self, conv: Conversation) -> str:
        line = self.queue.first_line(conv)
        text = f"#{conv.number} · {notify.contact_label(conv)} · {notify.where(conv.department)}"
        if line:
            text += "\n" + notify.quote(line, 300)
        return text + f"\nRoom: {self.room_link(conv)}"

    def thread(self, conv: Conversation, agent: str) -> ConsoleThread | None:
        """The agent's thread for this conversation, its root posted on first use."""
        found = self.repo.get(conv.number, agent)
        if found is not None:
            return found
        chat = self.directory.chat
        try:
            dm_rid = chat.dm_room(agent)
            # One root per chat and agent, whichever event opens it: its id is derived from
            # them, so a root posted just before a crash (its row not stored) is found again
            # by the replay, and it never takes the id of the event's own answer.
            with effect_scope(f"console-root:{conv.number}:{agent}"):
                root = chat.post(dm_rid, self.root_text(conv))
        except RocketChatError:
            log.warning("cannot open the console thread of #%s for @%s", conv.number, agent)
            return None
        return self.repo.add(ConsoleThread(conv.number, agent, dm_rid, root.id), utc_now())

    def tell(self, conv: Conversation, agent: str, text: str, kind: str | None = None) -> None:
        """An agent-only note in the agent's thread for `conv`; stored under `kind` (a
        Rocket.Chat system type) so crash repair can tell which transition it announced."""
        thread = self.thread(conv, agent)
        if thread is None:
            return
        try:
            sent = self.directory.chat.send(thread.dm_rid, text, tmid=thread.root_id)
        except RocketChatError:
            log.warning("cannot tell @%s about #%s", agent, conv.number, exc_info=True)
            return
        if sent is not None and kind is not None:
            self.messages.upsert(dataclasses.replace(sent, type=kind), None)

    def conversation_of(self, rid: str, tmid: str | None) -> int | None:
        """The conversation a command typed in a console thread acts on."""
        if not tmid:
            return None
        thread = self.repo.by_root(tmid)
        return thread.conversation if thread is not None and thread.dm_rid == rid else None
