"""The plain chat effects, by audience (DESIGN "Two audiences"): `tell_customer` posts a catalogue
entry (`messages.customer.*`) where the contact reads; `tell_agents` posts an agent-only text in
the agents' console threads (`bot.services.console`). There is no "send this text to the
conversation's room": the room follows from the audience, never from the caller.

They run after the commit; a failure is logged, never raised (the state is what the store says).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterable
from typing import Any

from bot.chat import effect_scope
from bot.chat.errors import RocketChatError
from bot.domain import Conversation
from bot.services.console import Console
from bot.services.directory import Directory
from bot.store.console import ConsoleThread

log = logging.getLogger("omnicat.workflow")


class _Fields(dict[str, str]):
    """Placeholders of a catalogue text: an unknown one stays as typed."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, fields: dict[str, Any]) -> str:
    try:
        return string.Formatter().vformat(template, (), _Fields(fields))
    except (ValueError, IndexError, AttributeError):
        return template  # a stray brace in the YAML: the text as written


class Posting:
    def __init__(self, directory: Directory, console: Console) -> None:
        self.directory = directory
        self.console = console

    # --- the two audiences ----------------------------------------------------------------
    def tell_agents(
        self,
        conv: Conversation,
        text: str,
        kind: str | None = None,
        *,
        to: Iterable[str] = (),
        serving: bool = True,
    ) -> None:
        """An agent-only text about `conv`, in the console thread of its serving agent
        (`serving=False`: not them) and of `to` (the actor, a previous agent). Stored under
        `kind` when it announces a transition."""
        for agent in dict.fromkeys((conv.agent if serving else None, *to)):
            if agent and self.reads_console(conv, agent):
                self.console.tell(conv, agent, text, kind)

    def reads_console(self, conv: Conversation, username: str) -> bool:
        """Whether `username` reads agent-only texts about `conv` (in their console thread):
        staff, and neither the bot nor the contact (a contact's own /close names them as its
        actor)."""
        if username in (self.directory.bot_name, conv.contact_username):
            return False
        return self.directory.is_staff(username)

    def agent_thread(self, conv: Conversation, username: str) -> ConsoleThread | None:
        """`username`'s console thread for `conv` (opened on first use) when they read agent-only
        texts; None for anyone else (they read at the top level of their DM with the bot), or
        when the thread cannot be opened."""
        if not self.reads_console(conv, username):
            return None
        return self.console.thread(conv, username)

    def customer_text(
        self, conv: Conversation, entry: str, template: str | None = None, **fields: Any
    ) -> str:
        if template is None:
            template = getattr(self.directory.config.messages.customer, entry)
        values = {"number": conv.number, "contact": conv.contact_name or conv.contact_username}
        return render(template, {**values, **fields})

    def tell_customer(
        self, conv: Conversation, entry: str, *, template: str | None = None, **fields: Any
    ) -> None:
        """A catalogue entry (`messages.customer.<entry>`) where the contact reads: the
        conversation's room while it is open (the livechat room, the case room), the contact's
        DM once a case room is archived. An empty text in the YAML turns the entry off.
        `template`: a customer text the configuration holds elsewhere (a department's or a
        timer's message), sent as this entry."""
        text = self.customer_text(conv, entry, template, **fields)
        if not text.strip():
            return
        # each entry counts its own ids: a replay that tells the contact one thing less (its
        # transition refused now) cannot give the next entry the id of the one it skipped
        with effect_scope.role(f"customer:{entry}"):
            if conv.rid and (conv.source == "livechat" or conv.closed_at is None):
                try:
                    self.directory.chat.send(conv.rid, text)
                except RocketChatError:
                    log.warning("cannot tell the contact of #%s", conv.number, exc_info=True)
            else:
                self.dm(conv.contact_username, text)

    def agent_name(self, username: str) -> str:
        user = self.directory.user(username)
        return (user.name if user and user.name else None) or username

    def dm(self, username: str, text: str, **kw: Any) -> None:
        try:
            self.directory.chat.dm(username, text, **kw)
        except RocketChatError:
            log.warning("cannot DM @%s", username, exc_info=True)

    def member(self, conv: Conversation, username: str, add: bool) -> None:
        """Invite `username` to the conversation's room (`add`) or remove them."""
        if not conv.rid:
            return
        user = self.directory.user(username)
        if user is None:
            log.warning(
                "no user @%s to %s #%s",
                username,
                "invite to" if add else "remove from",
                conv.number,
            )
            return
        try:
            if add:
                self.directory.chat.invite(conv.rid, user.id)
            else:
                self.directory.chat.kick(conv.rid, user.id)
        except RocketChatError:
            log.warning(
                "cannot %s @%s in #%s",
                "invite" if add else "remove",
                username,
                conv.number,
                exc_info=True,
            )
