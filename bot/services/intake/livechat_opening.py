"""Opening and routing a new livechat room: its conversation (idempotent by rid), the opening
note with the visitor's first line, routing once they wrote, and the visitor's answer. Every
step is marked in the kv (`livechat_state`), so a crash anywhere in between redoes what is left."""

from __future__ import annotations

import logging
from typing import Any

from bot.chat.effect_scope import effect_scope
from bot.chat.errors import RocketChatError
from bot.chat.types import Message, Room
from bot.domain import CONTACT, Conversation, State
from bot.services.intake.livechat_state import OPENING, ROUTE, WAIT, LivechatState
from bot.services.intake.opening import mark_opened, opened
from bot.services.rooms import LIVECHAT

log = logging.getLogger("omnicat.workflow.livechat")


class LivechatOpening(LivechatState):
    def open_room(self, rid: str, room: Room | None = None) -> Conversation | None:
        """The conversation of livechat room `rid`, opened when missing (idempotent by rid)."""
        services = self.services
        existing = services.queue.by_room(rid)
        if existing is not None:
            pending = self._pending_of(rid)
            if pending == OPENING or self._unfinished(existing):
                # the bot died while opening it: finish (nobody routes or takes it meanwhile)
                services.routing.opening_rooms.add(rid)
                try:
                    first = self._finish_opening(existing)
                finally:
                    services.routing.opening_rooms.discard(rid)
                return existing if first is None else self._route(existing)
            if pending == ROUTE or (pending == WAIT and self._first_visitor_line(existing)):
                return self._route(existing)  # a crash cut routing or the answer short
            return existing
        if room is None:
            try:
                room = services.directory.chat.livechat_room(rid)
            except RocketChatError:
                log.warning("livechat: cannot read room %s", rid, exc_info=True)
                return None
        if room is None or not room.is_livechat or room.visitor is None:
            return None
        if not room.open:
            return None  # closed before we got to it: nothing to serve
        bot = services.directory.chat.bot_user
        if room.served_by is None or room.served_by.id != bot.id:
            return None  # another agent's room (visible to a bot with view-livechat-rooms)
        visitor = room.visitor
        details = None
        try:
            details = services.directory.chat.visitor(visitor.id)
        except RocketChatError:
            details = None
        name = (details.name if details else None) or visitor.name or room.fname
        stale = services.repo.open_for_contact(visitor.username)
        if stale is not None and stale.rid != rid:
            # The visitor's previous room ended while we were not looking.
            self.closed_outside(stale.number, visitor.username, visitor=True)
        services.routing.opening_rooms.add(rid)
        # marked before the row exists: a kill -9 between the two must not leave a chat that
        # routing takes for a finished opening (no note, the visitor never told)
        self._mark(rid, OPENING)
        try:
            return self._open(rid, room, visitor, details, name)
        finally:
            services.routing.opening_rooms.discard(rid)

    def _open(
        self, rid: str, room: Room, visitor: Any, details: Any, name: str | None
    ) -> Conversation | None:
        services = self.services
        department = self.department_of(room.department_id)
        contact = services.repo.contact(visitor.username)
        conv, created = services.repo.create(
            visitor.username,
            services.clock(),
            by=visitor.username,
            department=department,
            contact_id=visitor.id,
            contact_name=name,
            rid=rid,
            source=LIVECHAT,
            default_agent=contact.last_agent if contact else None,
            sla=services.sla.default_for(department, LIVECHAT),
        )
        if not created and conv.rid != rid:
            log.warning("livechat: @%s already has #%s open", visitor.username, conv.number)
            self._mark(rid, None)
            return conv
        services.room_messages.remember_room(rid, conv.number)
        fields: dict[str, Any] = {"name": name}
        email = details.email if details else visitor.email
        phone = details.phone if details else visitor.phone
        if email:
            fields["email"] = email
        if phone:
            fields["phone"] = phone
        fields["custom_fields"] = {"livechat_source": room.source_type or "widget"}
        try:
            services.repo.update_contact(visitor.username, **fields)
        except Exception:
            log.warning("livechat: cannot store the visitor of %s", rid, exc_info=True)
        log.info("livechat: room %s opened #%s (%s)", rid, conv.number, department or "public")
        first = self._finish_opening(conv)
        services.routing.opening_rooms.discard(rid)
        if first is None:
            return conv
        return self._route(conv)

    def _route(self, conv: Conversation) -> Conversation:
        """Route, tell the visitor, then mark it done (a crash before the mark redoes both:
        routing is a compare-and-set, and the answer goes out under the ids of the first try).

        A chat's routing is one event whatever brings it about (the room's subscription, the
        visitor's first line, the reconnect's sweep after a crash): its own effect scope."""
        with effect_scope(f"livechat-route:{conv.number}"):
            self._mark(conv.rid, ROUTE)
            was = self.services.queue.get(conv.number).state
            routed = self.services.routing.route(conv.number)
            if was is State.SERVING:
                # routed before a crash cut this short: the visitor may not have been told
                self._retell_serving(routed)
            else:
                self._tell_visitor(routed)
            self._mark(conv.rid, None)
            return routed

    def waits_for_first_line(self, conv: Conversation) -> bool:
        """A routing veto (`Routing.add_veto`): a livechat chat is routed once its opening is
        done and its visitor wrote."""
        if conv.source != LIVECHAT:
            return False
        return self._pending_of(conv.rid) in (OPENING, WAIT)

    def first_line(self, message: Message) -> None:
        """A visitor's line in a conversation room: the first one routes the chat."""
        if not self.enabled or not message.from_visitor or message.type is not None:
            return
        conv = self.services.queue.by_room(message.rid)
        if conv is None or not conv.is_open:
            return
        pending = self._pending_of(conv.rid)
        if pending == OPENING:
            self.open_room(message.rid)  # a crash cut the opening short: finish it, then route
        elif pending:
            self._route(conv)

    def _first_visitor_line(self, conv: Conversation) -> Message | None:
        assert conv.rid
        try:
            history = self.services.directory.chat.history(conv.rid)
        except RocketChatError:
            log.warning("livechat: cannot read the history of %s", conv.rid, exc_info=True)
            return None
        for message in history:
            if message.type is None and message.from_visitor and message.text.strip():
                return message
        return None

    def _unfinished(self, conv: Conversation) -> bool:
        return conv.state is State.QUEUED and not self._has_opening_note(conv)

    def _has_opening_note(self, conv: Conversation) -> bool:
        return opened(self.services, conv.number)

    def _finish_opening(self, conv: Conversation) -> Message | None:
        """The opening note (once) with the visitor's first line, if they wrote yet; then the
        room waits for that line or is due for routing. Returns the first line."""
        services = self.services
        first = self._first_visitor_line(conv)
        # one event however often a crash makes us finish it: its own effect scope
        with (
            services.transitions.serial(conv.number),
            effect_scope(f"livechat-opening:{conv.number}"),
        ):
            conv = services.queue.get(conv.number)
            if not self._has_opening_note(conv):
                if first is not None:
                    # stored now, as the other intakes store the opening line: the agents'
                    # notice quotes it, and response times count from it (the live copy then
                    # counts no second time)
                    services.messages.upsert(first, conv.number)
                    services.repo.save_metrics(conv.note_message(CONTACT, first.ts))
                mark_opened(services, conv.number)
        # Rocket.Chat creates the room as the widget sends the first line: without it yet, wait
        # for it, so the agents' notice shows the question (and nobody takes an empty chat).
        self._mark(conv.rid, WAIT if first is None else ROUTE)
        return first

    def _tell_visitor(self, conv: Conversation) -> None:
        """The answer to the visitor's first line: their place in the queue, or who helps them.
        Under `_route`'s scope: a repeat after a crash stores nothing new."""
        services = self.services
        if conv.state is not State.QUEUED:
            return  # served: the visitor was told who helps them (`agent_joined`)
        pos = services.queue.queue_position(conv) or 1
        dept = services.roster.departments.get(conv.department) if conv.department else None
        template = None
        if not services.router.eligible(conv.department) and dept is not None:
            template = dept.waiting_message or None
        services.posting.tell_customer(conv, "received", template=template, position=pos)

    def _retell_serving(self, conv: Conversation) -> None:
        """A chat routed at once whose routing a crash cut short: the assignment's
        `agent_joined` (`Effects.tell_assigned`) may be what the crash cut. Told again unless
        the room holds it: under `_route`'s scope it takes the first try's id (stored once)."""
        services = self.services
        if conv.state is not State.SERVING or not conv.agent or not conv.rid:
            return
        name = services.posting.agent_name(conv.agent)
        text = services.posting.customer_text(conv, "agent_joined", agent_name=name)
        bot = services.directory.bot_name
        try:
            history = services.directory.chat.history(conv.rid)
        except RocketChatError:
            log.warning("livechat: cannot read the history of %s", conv.rid, exc_info=True)
            history = []
        if any(m.author.username == bot and m.text == text for m in history):
            return
        services.posting.tell_customer(conv, "agent_joined", agent_name=name)

    def department_of(self, department_id: str | None) -> str | None:
        """The Omnicat department of a Rocket.Chat department (mapped by id, else by name)."""
        mapping = self.settings.departments
        default = self.settings.department
        if not department_id:
            return default
        if department_id in mapping:
            return mapping[department_id]
        name = self._department_name(department_id)
        if name is not None and name in mapping:
            return mapping[name]
        return default

    def _department_name(self, department_id: str) -> str | None:
        if department_id in self._department_names:
            return self._department_names.get(department_id)
        name = None
        lookup = getattr(self.services.directory.chat, "livechat_department_name", None)
        if lookup is not None:
            try:
                name = lookup(department_id)
            except RocketChatError:
                log.warning("livechat: cannot read department %s", department_id)
        self._department_names[department_id] = name
        return name
