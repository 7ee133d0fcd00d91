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

import json
import logging
import re
import time
from datetime import datetime
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.types import Message, Room, UserRef
from bot.domain import CONTACT, Conversation, State
from bot.domain.bounded import BoundedCache
from bot.services import notify
from bot.services.intake.opening import mark_opened, opened
from bot.services.satisfaction import parse_rating

log = logging.getLogger("omnicat.workflow.intake")

POINTER_EVERY = 60.0  # seconds between "your conversation is in …" pointers per contact
_CHOICE_KEY = "intake-choice:"
ROOM_NAME_SAFE = re.compile(r"[^0-9A-Za-z_.\-]+")

#: contacts whose last pointer time is kept
POINTED_KEPT = 10_000


class Intake:
    def __init__(
        self, services: Any, *, livechat: Any = None, monotonic: Any = time.monotonic
    ) -> None:
        """`services`: a `bot.services.build.Core`; `livechat`: the `livechat` intake, which
        opens a livechat room's conversation when a message comes before the room's event."""
        self.services = services
        self.livechat = livechat
        # bounded (issue 20): when each contact was last pointed to their room, only as long
        # as it throttles (POINTER_EVERY), at most POINTED_KEPT contacts
        self._pointed: BoundedCache[str, float] = BoundedCache(POINTED_KEPT, ttl=POINTER_EVERY)
        self._monotonic = monotonic
        # rid → department, resolved lazily; only configured intake channels are stored
        self._channels: dict[str, str | None] = {}
        self._opening: set[int] = set()  # numbers whose room this process is opening now

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

    def offered(self) -> list[str]:
        services = self.services
        out = []
        for name, dept in services.config.departments.items():
            if not dept.offer_to_contacts:
                continue
            if dept.hide_when_offline and not services.router.has_online_agent(name):
                continue
            out.append(name)
        return out

    @staticmethod
    def _question(offered: list[str]) -> str:
        lines = ["Hello! Which team can help you? Reply with a number or a name:"]
        lines += [f"{i}. {name}" for i, name in enumerate(offered, 1)]
        return "\n".join(lines)

    def _answer(self, message: Message, pending: dict[str, Any]) -> None:
        offered: list[str] = pending["offered"]
        word = message.text.strip().lstrip("#").strip().rstrip(".").casefold()
        choice = None
        if word.isdigit() and 1 <= int(word) <= len(offered):
            choice = offered[int(word) - 1]
        else:
            choice = next((d for d in offered if d.casefold() == word), None)
        if choice is None:
            options = "\n".join(f"{i}. {name}" for i, name in enumerate(offered, 1))
            self.services.directory.chat.send(
                message.rid,
                f"Sorry, I didn't get that. Please reply with one of these numbers or names:\n"
                f"{options}",
            )
            return
        self.services.store.kv_set(_CHOICE_KEY + message.author.username, None)
        first = _message_from(pending["message"])
        self.start(first, choice, source="dm", answer_rid=message.rid)

    def _remember(self, username: str, message: Message, offered: list[str]) -> None:
        self.services.store.kv_set(
            _CHOICE_KEY + username,
            json.dumps({"offered": offered, "message": _message_to(message)}),
        )

    def _pending(self, username: str) -> dict[str, Any] | None:
        raw = self.services.store.kv_get(_CHOICE_KEY + username)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

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

    # --- creating a conversation ------------------------------------------------------------------
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

    def _send_dm(self, username: str, rid: str | None, text: str) -> None:
        try:
            if rid:
                self.services.directory.chat.send(rid, text)
            else:
                self.services.directory.chat.dm(username, text)
        except RocketChatError:
            log.warning("cannot tell @%s", username, exc_info=True)

    def _point(self, conv: Conversation, rid: str, *, force: bool) -> None:
        text = (
            f"Your conversation #{conv.number} is open in {self.services.effects.room_link(conv)}. "
            "Please write there."
        )
        if force:
            self._pointed[conv.contact_username] = self._monotonic()
            self._send_dm(conv.contact_username, rid, text)
        else:
            self._throttled(conv.contact_username, rid, text)

    def _throttled(self, username: str, rid: str, text: str) -> None:
        now = self._monotonic()
        last = self._pointed.get(username)
        if last is not None and now - last < POINTER_EVERY:
            return
        self._pointed[username] = now
        self._send_dm(username, rid, text)


def _message_to(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "rid": message.rid,
        "text": message.text,
        "ts": message.ts.isoformat(),
        "author": [message.author.id, message.author.username, message.author.name],
    }


def _message_from(data: dict[str, Any]) -> Message:
    uid, username, name = data["author"]
    return Message(
        id=data["id"],
        rid=data["rid"],
        text=data["text"],
        ts=datetime.fromisoformat(data["ts"]),
        author=UserRef(uid, username, name),
    )
