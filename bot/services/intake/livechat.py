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

from bot.chat.errors import NotAllowed, RocketChatError
from bot.chat.types import Message, Subscription
from bot.services.intake.livechat_following import LivechatFollowing
from bot.services.intake.livechat_opening import LivechatOpening
from bot.services.intake.livechat_state import (  # noqa: F401  (re-exported: the public names)
    CLOSE_TYPE,
    CLOSED_IN_RC,
    OPENING,
    ROUTE,
    VISITOR_CLOSED,
    WAIT,
)
from bot.services.rooms import LIVECHAT

log = logging.getLogger("omnicat.workflow.livechat")


class LivechatIntake(LivechatOpening, LivechatFollowing):
    """The livechat intake: Rocket.Chat's events and (re)connects, dispatched to opening
    (`LivechatOpening`) and following (`LivechatFollowing`) a room."""

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
