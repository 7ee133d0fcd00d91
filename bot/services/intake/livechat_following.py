"""Following what people do to a livechat room in Rocket.Chat's own UI: a close (by the visitor
or an agent) closes the conversation here, exactly once; a forward to another human moves the
conversation to them; the bot's own move-out cut short by a crash is finished."""

from __future__ import annotations

import logging

from bot.chat.errors import RocketChatError
from bot.domain import AGENT, CONTACT, Conversation, Refused, State, Transition
from bot.services import notify
from bot.services.intake.livechat_state import CLOSED_IN_RC, VISITOR_CLOSED, LivechatState
from bot.services.rooms import RoomEffectFailed
from bot.services.transitions import NothingToDo

log = logging.getLogger("omnicat.workflow.livechat")


class LivechatFollowing(LivechatState):
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
