"""The plain chat effects: a note in a conversation room, a DM, a seat added or removed.

They run after the commit; a failure is logged, never raised (the state is what the store says).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from bot.chat.errors import RocketChatError
from bot.domain import Conversation
from bot.services.directory import Directory
from bot.store.messages import MessageRepo

log = logging.getLogger("omnicat.workflow")


class Posting:
    def __init__(self, directory: Directory, messages: MessageRepo) -> None:
        self.directory = directory
        self.messages = messages

    def note(self, conv: Conversation, text: str, kind: str) -> None:
        """A workflow note in the conversation room, stored with its system type."""
        if not conv.rid:
            return
        chat: Any = self.directory.chat
        try:
            if hasattr(chat, "send_parts"):  # a long note arrives in several messages
                sent = chat.send_parts(conv.rid, text)
            else:
                one = chat.send(conv.rid, text)
                sent = [one] if one is not None else []
        except RocketChatError:
            log.warning("cannot post a note in #%s", conv.number, exc_info=True)
            return
        if not sent:
            log.warning("the server stored no note in #%s (%d characters)", conv.number, len(text))
        for message in sent:
            self.messages.upsert(dataclasses.replace(message, type=kind), conv.number)

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
