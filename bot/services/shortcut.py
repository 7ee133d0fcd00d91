"""`!shortcut` expansion: a message starting with `!word` by someone who may use canned
responses becomes the response's text, posted by the bot in the same room under the agent's
name ("Alice (canned)"), with placeholders filled and any extra words appended.

It is a handler of the dispatcher (`bot.dispatch.handlers.CannedShortcut`, placed by the
composition root, `bot.runtime.compose`):

- in a conversation room the agent's message still goes to the workflow first (it is stored and
  counts as the agent's reply for the metrics, like a canned response sent from Rocket.Chat's
  composer); then the response is posted and stored attributed to the agent, and the `!word`
  message deleted when the bot may (it owns conversation rooms; elsewhere the server refuses
  and the message stays);
- elsewhere (the bot's DM, channels the bot is in) the message is consumed, so intake never
  sees an agent's `!word`; the contact placeholders stay as typed there (no contact).

An unknown shortcut gets a DM to the agent with the closest matches: Rocket.Chat has no
ephemeral messages a bot can send over the API, and the room is the contact's too.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.types import Message, User
from bot.domain import Conversation
from bot.domain.placeholders import fill, values_for
from bot.services.canned import TRIGGER, CannedCatalog, CannedResponse, can_view

log = logging.getLogger("omnicat.toolkit.canned")

CANNED_SUFFIX = " (canned)"


class CannedExpander:
    def __init__(self, app: Any, services: Any) -> None:
        self.app = app  # the dispatcher: its user cache, store, config and chat port
        self.wf = services  # bot.services.build.Services

    # --- the handler (`bot.dispatch.handlers.CannedShortcut`) --------------------------------
    def trigger(self, message: Message) -> tuple[User, str, str] | None:
        """(author, shortcut, extra words) when this message asks for a canned response."""
        if message.type is not None or message.is_edit:
            return None
        match = TRIGGER.match(message.text.strip())
        if match is None:
            return None
        user = self.app.users.get(message.author)
        wf = self.wf
        if not wf.directory.perms.has(wf.directory.viewer(user).roles, "view-canned-responses"):
            return None  # a contact's "!hello" is just text
        conv = wf.queue.by_room(message.rid)
        if conv is not None and conv.contact_username == user.username:
            return None
        return user, match.group(1).lower(), (match.group(2) or "").strip()

    # --- expansion ----------------------------------------------------------------------------
    def expand(self, message: Message, kind: str, user: User, shortcut: str, extra: str) -> None:
        wf = self.wf
        viewer = wf.directory.viewer(user)
        catalog = CannedCatalog(self.app.store, self.app.config)
        response = catalog.get(shortcut)
        if response is None or not can_view(response, viewer, wf.directory.perms):
            self._unknown(
                message, user, shortcut, catalog.closest(shortcut, viewer, wf.directory.perms)
            )
            return
        conv = wf.queue.by_room(message.rid) if kind == "conversation" else None
        text = self.render(response, user, conv)
        if extra:
            text = f"{text} {extra}"
        chat = self.app.chat
        try:
            sent = chat.post(
                message.rid,
                text,
                alias=f"{user.display_name}{CANNED_SUFFIX}",
                tmid=message.tmid,  # asked in a thread: answered in it
            )
        except RocketChatError:
            log.warning("cannot post canned !%s in %s", shortcut, message.rid, exc_info=True)
            return
        if conv is not None and sent is not None:
            # Stored as the agent's: search, history and transcripts show who said it.
            wf.messages.upsert(dataclasses.replace(sent, author=user.ref), conv.number)
        try:
            chat.delete_message(message.rid, message.id)
        except RocketChatError:
            log.debug("cannot delete !%s in %s (not allowed here)", shortcut, message.rid)

    def render(self, response: CannedResponse, user: User, conv: Conversation | None) -> str:
        contact = self.wf.repo.contact(conv.contact_username) if conv is not None else None
        return fill(response.text, values_for(user, conv, contact))

    def _unknown(self, message: Message, user: User, shortcut: str, close: list[str]) -> None:
        prefix = (getattr(getattr(self.app.config, "commands", None), "prefixes", None) or ["/"])[0]
        text = f"There is no canned response !{shortcut}."
        if close:
            text += " Did you mean " + " or ".join(f"!{c}" for c in close) + "?"
        text += f" Type {prefix}canned to see the ones you can use."
        try:
            self.app.chat.dm(user.username, text)
        except RocketChatError:
            log.warning("cannot tell @%s about !%s", user.username, shortcut, exc_info=True)
