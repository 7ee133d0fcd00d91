"""Opening a case: the conversation's row, its private room, the opening note with the contact's
question, routing, and telling the contact where the case lives. An opening a crash cut short
(no room, or no opening note) is finished by the replayed first message."""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.types import Message, Room
from bot.domain import CONTACT, Conversation, State
from bot.services import notify
from bot.services.intake.dm_state import IntakeState
from bot.services.intake.opening import mark_opened, opened

log = logging.getLogger("omnicat.workflow.intake")

ROOM_NAME_SAFE = re.compile(r"[^0-9A-Za-z_.\-]+")


class CaseRoomOpening(IntakeState):
    def start(
        self,
        first: Message,
        department: str | None,
        *,
        source: str,
        answer_rid: str | None = None,
    ) -> Conversation | None:
        services = self.services
        author = first.author
        contact = services.repo.contact(author.username)
        conv, created = services.repo.create(
            author.username,
            services.clock(),
            by=author.username,
            department=department,
            contact_id=author.id or None,
            contact_name=author.name,
            source=source,
            default_agent=contact.last_agent if contact else None,
            sla=services.sla.default_for(department, source),
        )
        dm_rid = answer_rid or (first.rid if source == "dm" else None)
        if not created and not self.unfinished(conv):
            self._point(
                conv, dm_rid or services.directory.chat.dm_room(author.username), force=True
            )
            return conv
        if not created:
            # The bot died while opening it (kill -9 between the store row and the room, or
            # before the opening note); the replayed first message finishes the job.
            log.info("finishing the interrupted opening of #%s", conv.number)
        self._opening.add(conv.number)
        try:
            return self._finish_opening(conv, first, source, dm_rid, reuse=not created)
        finally:
            self._opening.discard(conv.number)

    def unfinished(self, conv: Conversation) -> bool:
        """A queued conversation whose opening never completed: no room, or no opening note
        (and nobody in this process is opening it right now)."""
        if conv.state is not State.QUEUED or conv.number in self._opening:
            return False
        if not conv.rid:
            return True
        return not opened(self.services, conv.number)

    def _finish_opening(
        self,
        conv: Conversation,
        first: Message,
        source: str,
        dm_rid: str | None,
        *,
        reuse: bool,
    ) -> Conversation | None:
        services = self.services
        author = first.author
        # Held from the room's birth to its opening note: an agent who sees the chat in
        # /queue meanwhile and takes it must not have "joined" before the opening.
        with services.transitions.serial(conv.number):
            if not conv.rid:
                try:
                    room = self._open_room(conv, reuse=reuse)
                except RocketChatError:
                    log.exception("cannot create the room of #%s", conv.number)
                    self._abandon(conv)
                    services.posting.dm(
                        author.username,
                        "Sorry, I could not open a conversation for you right now. "
                        "Please try again in a moment.",
                    )
                    return None
                services.repo.attach_room(conv.number, room.id)
                services.room_messages.remember_room(room.id, conv.number)
            conv = services.queue.get(conv.number)
            services.messages.upsert(first, conv.number)
            # The first message is the contact's question: the agent has to answer it before a
            # hold, and response times count from it.
            services.repo.save_metrics(conv.note_message(CONTACT, first.ts))
            # the case room starts with the contact's question (theirs to read; the
            # transcript's first line)
            services.posting.tell_customer(conv, "opened", question=notify.quote(first.text))
            mark_opened(services, conv.number)
        if source == "channel":
            try:
                services.directory.chat.send(
                    first.rid,
                    f"@{author.username}, I opened a private conversation for you: "
                    f"{services.effects.room_link(conv)}",
                    tmid=first.id,
                )
            except RocketChatError:
                log.warning("cannot answer in the intake channel", exc_info=True)
        conv = services.routing.route(conv.number)
        self._tell_contact(conv, dm_rid)
        return conv

    def _open_room(self, conv: Conversation, *, reuse: bool = False) -> Room:
        """Create the conversation's private group; with `reuse`, first look for the one an
        interrupted opening already created (the bot is its owner, so it is subscribed)."""
        services = self.services
        template = services.config.intake.room_name
        name = template.format(
            number=conv.number,
            contact=conv.contact_username,
            department=conv.department or "public",
        )
        name = ROOM_NAME_SAFE.sub("-", name).strip("-") or f"omni-{conv.number}"
        if reuse:
            try:
                for sub in services.directory.chat.subscriptions():
                    if sub.type == "p" and sub.name == name:
                        room = services.directory.chat.room_info(sub.rid)
                        if room is not None:
                            return room
            except RocketChatError:
                log.warning("cannot look for the room of #%s", conv.number, exc_info=True)
        last: RocketChatError | None = None
        for attempt in range(3):
            candidate = name if attempt == 0 else f"{name}-{attempt + 1}"
            try:
                return services.directory.chat.create_group(
                    candidate,
                    [conv.contact_username],
                    topic=f"Conversation #{conv.number} with @{conv.contact_username}",
                )
            except RocketChatError as exc:
                # a leftover room with that name (e.g. a reset database): try another name
                last = exc
                if "duplicate" not in str(exc).lower() and "exists" not in str(exc).lower():
                    raise
        assert last is not None
        raise last

    def _abandon(self, conv: Conversation) -> None:
        services = self.services

        def decide(c: Conversation) -> Any:
            return c.close(
                services.directory.bot_name,
                services.clock(),
                "The room could not be created.",
                closer="bot",
            )

        try:
            services.transitions.transition(conv.number, decide)
        except Exception:
            log.exception("cannot close #%s after a failed room creation", conv.number)

    def _tell_contact(self, conv: Conversation, dm_rid: str | None) -> None:
        services = self.services
        text = f"Thanks! Your conversation #{conv.number} is in the private room "
        text += f"{services.effects.room_link(conv)}."
        if conv.state is State.SERVING:
            text += f" @{conv.agent} is there to help you."
        elif conv.state is State.QUEUED:
            pos = services.queue.queue_position(conv) or 1
            nobody = not services.router.eligible(conv.department)
            dept = services.roster.departments.get(conv.department) if conv.department else None
            if nobody and dept is not None and dept.waiting_message:
                text += " " + dept.waiting_message.replace("{position}", str(pos))
            elif nobody:
                text += f" All our agents are busy right now. You are number {pos} in the queue."
            else:
                text += f" You are number {pos} in the queue; an agent will join you soon."
        self._send_dm(conv.contact_username, dm_rid, text)
