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

An unknown shortcut (or a response with a placeholder no conversation fills) is never posted:
the agent's `!word` is deleted from a conversation room where the bot may, and the agent gets a
one-line DM with the closest matches: Rocket.Chat has no ephemeral messages a bot can send over
the API, and the room is the contact's too.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.types import Message, User
from bot.domain import Conversation
from bot.domain.placeholders import fill, unknown_in, values_for
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
        ready = self.prepare(message, kind, user, shortcut, extra)
        if ready is not None:
            self.post(message, user, shortcut, ready)

    def prepare(
        self, message: Message, kind: str, user: User, shortcut: str, extra: str
    ) -> tuple[str, Conversation | None] | None:
        """The text to post and its conversation; None when refused (unknown shortcut, or a
        placeholder no conversation can fill): then the agent is told why, and their `!word`
        message is deleted where the bot may, so the contact never reads it."""
        wf = self.wf
        viewer = wf.directory.viewer(user)
        catalog = CannedCatalog(self.app.store, self.app.config)
        response = catalog.get(shortcut)
        if response is None or not can_view(response, viewer, wf.directory.perms):
            close = catalog.closest(shortcut, viewer, wf.directory.perms)
            text = f"There is no canned response !{shortcut}."
            if close:
                text += " Did you mean " + " or ".join(f"!{c}" for c in close) + "?"
            self._refuse(
                message,
                kind,
                user,
                f"{text} Type {self._prefix()}canned to see the ones you can use.",
            )
            return None
        conv = wf.queue.by_room(message.rid) if kind == "conversation" else None
        text = self.render(response, user, conv)
        unknown = unknown_in(text) if conv is not None else []
        if unknown:
            self._refuse(
                message,
                kind,
                user,
                f"!{shortcut} has {', '.join(unknown)}, which I cannot fill, so I sent nothing; "
                f"fix it with {self._prefix()}canned edit !{shortcut} ….",
            )
            return None
        return (f"{text} {extra}" if extra else text), conv

    def post(self, message: Message, user: User, shortcut: str, ready: tuple[str, Any]) -> None:
        text, conv = ready
        wf = self.wf
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
        values = values_for(user, conv, contact)
        if conv is not None and not values.get("contact.email"):
            values["contact.email"] = self.wf.conversations.contact_email(conv.contact_username)
        return fill(response.text, values)

    def _prefix(self) -> str:
        config = getattr(self.app.config, "commands", None)
        return (getattr(config, "prefixes", None) or ["/"])[0]

    def _refuse(self, message: Message, kind: str, user: User, text: str) -> None:
        """Delete the agent's `!word` from a conversation room (the contact must not read a
        typo or a half-filled response) and tell the agent in one line: in their console
        thread for that conversation, or by DM when typed elsewhere."""
        if kind == "conversation":
            try:
                self.app.chat.delete_message(message.rid, message.id)
            except RocketChatError:
                log.info("cannot delete !word %s in %s", message.id, message.rid)
                text += " I could not delete your message from the room: please delete it."
            conv = self.wf.repo.by_room(message.rid)
            if conv is not None and self.wf.directory.is_staff(user.username):
                self.wf.posting.tell_agents(conv, text, to=[user.username], serving=False)
                return
        try:
            self.app.chat.dm(user.username, text)
        except RocketChatError:
            log.warning(
                "cannot tell @%s why a canned response was refused", user.username, exc_info=True
            )
