"""The `livechat` intake: Rocket.Chat's own omnichannel rooms, the bot being their bot agent.

Rocket.Chat assigns every new livechat room (`t: 'l'`) to the bot (`Livechat_assign_new_
conversation_to_bot`), which learns of it from `subscriptions-changed inserted`. The livechat
room IS the conversation's room: no private group is created. The conversation's contact is the
visitor (`guest-N`, name, e-mail, phone, source type); its department comes from the room's
`departmentId` through `intake.livechat.departments`. Queueing and routing are the other
intakes' (manual notifications with Take it buttons, auto routings, fallbacks).

Nothing is missed or doubled: rooms are keyed by rid (the store's unique `rid`), and at every
(re)connect the bot sets itself `available` and lists the open rooms it serves
(`livechat/rooms?agents[]=<bot>&open=true`): a room assigned while it was away opens now, and a
conversation whose room was closed meanwhile is closed here with its close hooks. A message
from a livechat room the bot has no conversation for (catch-up after a restart runs before the
connected hooks) opens that room's conversation first.

What people do in Rocket.Chat's own UI is followed, never fought: the visitor closing from the
widget (`livechat-close`, `subscriptions-changed removed`) or an agent closing there closes the
conversation here (exactly once: a compare-and-set), and a forward to another human there moves
the conversation to them.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.chat.effect_scope import effect_scope
from bot.chat.errors import NotAllowed, RocketChatError
from bot.chat.types import Message, Room, Subscription
from bot.domain import AGENT, CONTACT, Conversation, Refused, State, Transition
from bot.domain.bounded import BoundedCache
from bot.services import notify
from bot.services.intake.opening import mark_opened, opened
from bot.services.rooms import LIVECHAT, RoomEffectFailed
from bot.services.transitions import NothingToDo

log = logging.getLogger("omnicat.workflow.livechat")

CLOSE_TYPE = "livechat-close"
#: kv key per livechat room (by rid, so it is written before the conversation's row exists)
#: whose opening or routing is still to do: "opening" (the row and its opening note are being
#: made), "wait" (the visitor has not written yet) — routing is held for both, see
#: `waits_for_first_line` — or "route" (they have; routing and the visitor's answer are due).
#: Cleared once all is done, so a crash anywhere in between redoes what is left.
_PENDING_KEY = "livechat-pending:"
OPENING, WAIT, ROUTE = "opening", "wait", "route"
VISITOR_CLOSED = "Closed by the visitor"
CLOSED_IN_RC = "Closed in Rocket.Chat"


class LivechatIntake:
    def __init__(self, services: Any, *, submit: Any = None) -> None:
        """`services`: a `bot.services.build.Core`."""
        self.services = services
        #: `App.rooms.submit(key, fn, *args)`: work on a room's serial queue
        self.submit = submit or (lambda _key, fn, *args: fn(*args))
        # bounded (issue 20): department id -> name, for a day, at most 1,000 departments
        self._department_names: BoundedCache[str, str | None] = BoundedCache(1_000, ttl=86_400)

    @property
    def settings(self) -> Any:
        return self.services.config.intake.livechat

    @property
    def enabled(self) -> bool:
        return bool(self.settings.enabled)

    # --- events -----------------------------------------------------------------------------
    def on_subscription(self, action: str, subscription: Subscription | None, rid: str) -> None:
        """`App.subscription_handler` (on the room's queue)."""
        if not self.enabled:
            return
        if action == "inserted" and subscription is not None and subscription.type == "l":
            self.open_room(rid)
        elif action == "removed" and self.services.room_messages.is_conversation_room(rid):
            self.follow_room(rid)

    def on_message(self, message: Message) -> bool:
        """A message from a livechat room the bot has no conversation for (the catch-up after
        a restart replays it before the connected hooks ran): open that room's conversation
        and let the message through. True when it is a conversation message now."""
        if not self.enabled or message.room_type != "l":
            return False
        if message.room_participant is False:
            # with `view-livechat-rooms` the bot sees every livechat room's messages: only the
            # rooms it is in (served by it) are its business
            return False
        if not self.services.room_messages.is_conversation_room(message.rid):
            self.open_room(message.rid)
        return self.services.room_messages.is_conversation_room(message.rid)

    def on_room_system_message(self, message: Message) -> None:
        """`livechat-close` in a conversation room: the visitor (or a person in Rocket.Chat's
        UI) ended the chat. The bot's own close never gets here (its messages are filtered)."""
        if message.type != CLOSE_TYPE or not self.enabled:
            return
        conv = self.services.queue.by_room(message.rid)
        if conv is None or not conv.is_open:
            return
        visitor = message.from_visitor or message.author.username == conv.contact_username
        self.closed_outside(conv.number, message.author.username, visitor=visitor)

    # --- (re)connect ----------------------------------------------------------------------------
    def on_connected(self, first: bool) -> None:
        if not self.enabled:
            return
        if self.settings.set_available:
            self.set_available()
        try:
            rooms = self.services.directory.chat.livechat_open_rooms()
        except RocketChatError as exc:
            log.error(
                "livechat: cannot list the rooms the bot serves (%s); new rooms still arrive "
                "live, rooms assigned while it was away are picked up at the next reconnect",
                exc.reason,
            )
            return
        served = {room.id for room in rooms}
        for room in rooms:
            self.submit(room.id, self.open_room, room.id, room)
        for conv in self.services.repo.open_conversations():
            if conv.source == LIVECHAT and conv.rid and conv.rid not in served:
                self.submit(conv.rid, self.follow_room, conv.rid)
        log.info("livechat: %d open room(s) served by the bot", len(rooms))

    def set_available(self) -> bool:
        try:
            status = self.services.directory.chat.livechat_set_available()
        except RocketChatError as exc:
            if exc.key == "error-business-hours-are-closed":
                why = "business hours are closed"
            elif isinstance(exc, NotAllowed) or exc.key in {"error-not-allowed", "unauthorized"}:
                why = "the bot lacks the view-l-room permission (give it the livechat-agent role)"
            else:
                why = exc.reason
            log.error(
                "livechat: Rocket.Chat refused to make the bot available (%s); new livechat "
                "rooms are not assigned to it until it is (see `omnicat check-server`)",
                why,
            )
            return False
        log.info("livechat: the bot is %s as omnichannel agent", status)
        return status == "available"

    # --- opening ------------------------------------------------------------------------------
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

    def _pending_of(self, rid: str | None) -> str | None:
        return self.services.store.kv_get(_PENDING_KEY + rid) if rid else None

    def _mark(self, rid: str | None, value: str | None) -> None:
        if rid:
            self.services.store.kv_set(_PENDING_KEY + rid, value)

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

    # --- following Rocket.Chat ------------------------------------------------------------------
    def follow_room(self, rid: str) -> None:
        """The bot left a conversation's livechat room, or it is missing from the rooms the
        bot serves: the room closed (visitor, an agent in Rocket.Chat) or was forwarded there."""
        services = self.services
        found = services.queue.by_room(rid)
        if found is None or not found.is_open:
            return
        # Store and room are read holding the conversation, as our own room effects run:
        # moving someone out forwards the room to them (or to the serving agent) and then back
        # to the bot (`LivechatRooms._move_out`), and that first forward is what sent us here
        # (the bot's subscription is removed). Read mid-way, the room looks forwarded to a
        # human in Rocket.Chat, and following it would seat someone the room no longer has.
        with services.transitions.serial(found.number):
            self._follow(rid, found.number)

    def _follow(self, rid: str, number: int) -> None:
        services = self.services
        conv = services.repo.get(number)
        if conv is None or not conv.is_open or conv.rid != rid:
            return
        try:
            room = services.directory.chat.livechat_room(rid)
        except RocketChatError:
            log.warning("livechat: cannot read room %s", rid, exc_info=True)
            return
        if room is None or not room.open:
            visitor = room is not None and room.closer == "visitor"
            self.closed_outside(
                conv.number,
                conv.contact_username if visitor else services.directory.bot_name,
                visitor=visitor,
            )
            return
        served = room.served_by.username if room.served_by else None
        bot = services.directory.bot_name
        if served in (None, bot, conv.agent):
            if served == conv.agent and served not in (None, bot):
                self._rejoin(rid)  # our own forward: the bot keeps its seat
            return
        if served not in conv.members() and served in self._moved_out_last(conv):
            # Our own move-out, cut short (a disconnect or a kill between its forwards): the
            # room still has whom the last stored transition took out. Finish it; read as a
            # forward made in Rocket.Chat it would seat them again.
            self._finish_move_out(conv, served)
            return
        self.forwarded_outside(conv.number, served)

    def _moved_out_last(self, conv: Conversation) -> set[str]:
        """Who the conversation's last stored transition took out of the room (the agent a
        requeue or a forward moved on from)."""
        chain = [e for e in self.services.repo.events(conv.number) if e.to_state is not None]
        if not chain:
            return set()
        data = chain[-1].data or {}
        return {str(data[k]) for k in ("transferred_by", "from_agent") if data.get(k)}

    def _finish_move_out(self, conv: Conversation, served: str) -> None:
        log.info("livechat: #%s: finishing the move-out of @%s", conv.number, served)
        try:
            self.services.effects.rooms_for(conv).sync(conv, [], [served])
        except RoomEffectFailed as failed:
            log.warning(
                "livechat: #%s: cannot move @%s out: %s", conv.number, served, failed.reason
            )

    def _rejoin(self, rid: str) -> None:
        try:
            self.services.directory.chat.livechat_join(rid)
        except RocketChatError:
            log.debug("livechat: rejoin of %s refused", rid, exc_info=True)

    def closed_outside(self, number: int, by: str, *, visitor: bool) -> None:
        services = self.services

        def decide(conv: Conversation) -> Transition:
            if not conv.is_open:
                raise NothingToDo(conv)
            comment = VISITOR_CLOSED if visitor else CLOSED_IN_RC
            return conv.close(
                by,
                services.clock(),
                comment,
                closer=CONTACT if visitor else AGENT,
                require_comment=False,
            )

        with services.transitions.serial(number):
            try:
                before, (after, _e) = services.transitions.transition(number, decide)
            except (NothingToDo, Refused):
                return
            log.info("livechat: #%s was closed in Rocket.Chat by @%s", number, by)
            services.effects.finish_close(after, by)
            if before.agent:
                who = "the visitor" if visitor else f"@{by} in Rocket.Chat"
                services.posting.tell_agents(
                    after, f"#{number} was closed by {who}.", to=[before.agent], serving=False
                )
        if before.agent and before.state is State.SERVING:
            services.transitions.later(services.routing.agent_freed, before.agent)

    def forwarded_outside(self, number: int, target: str) -> None:
        """Someone forwarded the room to @target in Rocket.Chat's UI: they serve it now."""
        services = self.services

        def decide(conv: Conversation) -> Transition:
            if not conv.is_open or conv.agent == target:
                raise NothingToDo(conv)
            return conv.forward_to_agent(
                target,
                services.directory.bot_name,
                services.clock(),
                "forwarded in Rocket.Chat",
                target_available=True,
            )

        with services.transitions.serial(number):
            try:
                before, (after, _e) = services.transitions.transition(number, decide)
            except (NothingToDo, Refused):
                log.info("livechat: #%s moved to @%s in Rocket.Chat; not followed", number, target)
                return
            self._rejoin(after.rid or "")
            services.posting.tell_agents(
                after,
                f"Forwarded to you in Rocket.Chat: {notify.joined(target)} #{number}.",
                notify.JOINED,
            )
            if before.agent and before.agent != target:
                services.posting.tell_agents(
                    after,
                    f"#{number} was forwarded to @{target} in Rocket.Chat.",
                    to=[before.agent],
                    serving=False,
                )
        if before.agent:
            services.transitions.later(services.routing.agent_freed, before.agent)
