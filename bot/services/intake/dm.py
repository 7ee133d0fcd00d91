"""How a conversation starts: the `dm` and `channel` intakes (`App.intake_handler`).

A contact's DM goes: open conversation? → point to its room. Otherwise, several departments
offered → ask (numbered list; the answer may be the number or the name) and remember the first
message until the answer comes (in the store, so a restart in between loses nothing). Then the
conversation is created, its private room opened, the opening note posted, routing runs, and the
contact is told where the conversation lives and their place in the queue.

Messages a contact writes in the DM while a conversation is open are NOT relayed into the room:
the room is the one record of the case (files, edits, reactions, the transcript all come from
it), and a relay would split it and double every line. The contact is pointed to the room
instead, at most once a minute so a burst of lines gets one answer.
"""

from __future__ import annotations

import logging

from bot.chat.errors import RocketChatError
from bot.chat.types import Message
from bot.services.intake.dm_choice import DepartmentChoice
from bot.services.intake.dm_opening import ROOM_NAME_SAFE, CaseRoomOpening  # noqa: F401
from bot.services.intake.dm_state import POINTED_KEPT, POINTER_EVERY  # noqa: F401
from bot.services.satisfaction import parse_rating

log = logging.getLogger("omnicat.workflow.intake")


class Intake(DepartmentChoice, CaseRoomOpening):
    """The `dm` and `channel` intakes: a contact's line routed to the department choice
    (`DepartmentChoice`), the opening of their case (`CaseRoomOpening`) or a pointer to it."""

    # --- entry point ----------------------------------------------------------------------------
    def handle(self, message: Message, kind: str) -> None:
        if message.type is not None or message.is_edit:
            return
        self.services.presence.load_presence()
        if message.room_type == "l":
            # a livechat room the bot has no conversation for yet (`bot.services.intake.livechat`)
            livechat = self.livechat
            if livechat is not None and livechat.on_message(message):
                self.services.room_messages.on_room_message(message)
            return
        if kind == "dm":
            self.on_dm(message)
        elif kind == "other" and message.tmid is None:
            self.on_channel(message)

    # --- dm ---------------------------------------------------------------------------------------
    def on_dm(self, message: Message) -> None:
        services = self.services
        author = message.author
        user = services.directory.user(author.username)
        if user is not None and "bot" in user.roles:
            return  # other bots and integrations never open support cases
        # Agents, monitors, managers and admins (`view-l-room`) are staff: chatting with the
        # bot gets them a hint, not a support case.
        if user is not None and (
            services.directory.is_agent(user) or services.directory.may(user, "view-l-room")
        ):
            self._throttled(
                author.username,
                message.rid,
                f"Hi! You are staff here: type {services.directory.command_word('help')} "
                "to see your commands.",
            )
            return
        # A closed chat's rating (`4` or `4 great help`, typed or sent by a button) is an
        # answer, not a new case; a department question asked since comes first.
        if (
            parse_rating(message.text) is not None
            and self._pending(author.username) is None
            and services.satisfaction.on_contact_line(message)
        ):
            return
        if not services.config.intake.dm.enabled:
            return
        existing = services.repo.open_for_contact(author.username)
        if existing is not None and self.unfinished(existing):
            self.start(message, existing.department, source="dm")
            return
        if existing is not None:
            self._point(existing, message.rid, force=False)
            return
        pending = self._pending(author.username)
        if pending is not None:
            self._answer(message, pending)
            return
        fixed = services.config.intake.dm.department
        offered = self.offered()
        if fixed or len(offered) <= 1:
            department = fixed or (offered[0] if offered else None)
            self.start(message, department, source="dm")
            return
        self._remember(author.username, message, offered)
        services.directory.chat.send(message.rid, self._question(offered))

    # --- channel ----------------------------------------------------------------------------------
    def channel_department(self, message: Message) -> tuple[bool, str | None]:
        """(is an intake channel, its department)."""
        channels = self.services.config.intake.channels
        if not channels:
            return False, None
        if message.rid in self._channels:
            return True, self._channels[message.rid]
        name = message.room_name
        if name is None:
            try:
                room = self.services.directory.chat.room_info(message.rid)
            except RocketChatError:
                room = None
            name = room.name if room else None
        for ch in channels:
            if ch.room in (message.rid, name):
                self._channels[message.rid] = ch.department
                return True, ch.department
        return False, None

    def on_channel(self, message: Message) -> None:
        is_intake, department = self.channel_department(message)
        if not is_intake:
            return
        if self.services.directory.is_agent(message.author.username):
            return  # agents talk in the help channel too; only contacts start conversations
        existing = self.services.repo.open_for_contact(message.author.username)
        if existing is not None and self.unfinished(existing):
            self.start(message, existing.department, source="channel")
            return
        if existing is not None:
            self._point(
                existing, self.services.directory.chat.dm_room(message.author.username), force=True
            )
            return
        self.start(message, department, source="channel")
