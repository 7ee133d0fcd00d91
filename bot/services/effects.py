"""What a committed transition does in the chat: the room follows the seats through the intake's
room strategy (`bot.services.rooms`), agents are told, a closed case's room ends.

Everything here runs after the commit and outside the roster lock; a failure is logged (a room
refusal is returned, for the caller to undo or tell), never raised into the store.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.chat import effect_scope
from bot.chat.errors import RocketChatError
from bot.domain import Conversation
from bot.services import notify
from bot.services.directory import Directory
from bot.services.posting import Posting
from bot.services.queue import QueueView
from bot.services.rooms import LIVECHAT, GroupRooms, LivechatRooms, RoomEffectFailed
from bot.services.transitions import Transitions

log = logging.getLogger("omnicat.workflow")


class Effects:
    def __init__(
        self,
        directory: Directory,
        posting: Posting,
        queue: QueueView,
        transitions: Transitions,
    ) -> None:
        self.directory = directory
        self.posting = posting
        self.queue = queue
        self.transitions = transitions
        self._group_rooms = GroupRooms(directory, posting)
        self._livechat_rooms = LivechatRooms(directory, posting)

    def rooms_for(self, conv: Conversation) -> GroupRooms | LivechatRooms:
        """The room strategy of the conversation's intake (`bot.services.rooms`)."""
        return self._livechat_rooms if conv.source == LIVECHAT else self._group_rooms

    def room_link(self, conv: Conversation) -> str:
        return self.rooms_for(conv).link(conv)

    # --- seats ----------------------------------------------------------------------------------
    def seat_changes(self, before: Conversation, after: Conversation) -> str | None:
        """Invite newcomers, remove who lost their seat (the room follows the store), through
        the intake's room strategy. A refusal is logged and its reason returned, for the
        caller to undo or tell."""
        failed = self.room_refusal(before, after)
        return failed.reason if failed else None

    def room_refusal(self, before: Conversation, after: Conversation) -> RoomEffectFailed | None:
        try:
            self.rooms_for(after).seat_changes(before, after)
        except RoomEffectFailed as failed:
            return failed
        return None

    # --- telling agents -------------------------------------------------------------------------
    def notify_waiting(self, conv: Conversation, agents: Iterable[str]) -> None:
        chat = self.directory.chat
        line = self.queue.first_line(conv)
        text, attachments = notify.new_chat(conv, line, self.directory.take_word)
        for username in agents:
            try:
                # per chat: a replay that notifies of other chats keeps this one's ids
                with effect_scope.role(f"new-chat:{conv.number}"):
                    chat.post(chat.dm_room(username), text, attachments=attachments)
            except RocketChatError:
                log.warning("cannot notify @%s of #%s", username, conv.number, exc_info=True)

    def tell_assigned(self, conv: Conversation, why: str, *, actor: str | None = None) -> None:
        """The assigned agent's console thread opens (its root names the chat) with why; the
        actor (who forwarded, who returned it) reads the same note in theirs."""
        agent = conv.agent or ""
        text = f"{notify.joined(agent)}. {why.rstrip(':').rstrip()}."
        self.posting.tell_agents(conv, text, notify.JOINED)
        if actor and actor != agent:
            self.posting.tell_agents(
                conv, notify.joined(agent), notify.JOINED, to=[actor], serving=False
            )
        self.posting.tell_customer(conv, "agent_joined", agent_name=self.posting.agent_name(agent))

    def after_assignment(
        self,
        before: Conversation,
        after: Conversation,
        why: str,
        *,
        actor: str | None = None,
        seated: bool = False,
        refusal: RoomEffectFailed | None = None,
    ) -> None:
        """Seats (unless the caller `seated` them, with `refusal` as the outcome), the joined
        note, the assigned agent told; a room refusal goes to the agent and the actor."""
        if seated:
            problem = refusal.reason if refusal else None
        else:
            problem = self.seat_changes(before, after)
        if after.agent:
            self.tell_assigned(after, why, actor=actor)
        if problem:
            self.posting.tell_agents(
                after, f"#{after.number}: {problem}", to=[actor] if actor else ()
            )

    # --- the close ------------------------------------------------------------------------------
    def finish_close(self, conv: Conversation, closed_by: str, *, archive: bool = True) -> None:
        """The effects of a committed close: note, close subscribers, archive (`archive=False`:
        the caller archives, after answering), tell the contact."""
        self.posting.tell_agents(
            conv, notify.closed_note(conv, closed_by), notify.CLOSED, to=[closed_by]
        )
        # Queued before the subscribers run: the contact reads "closed" before anything they
        # send the contact after it (the satisfaction question).
        self.transitions.later(self.tell_contact_closed, conv)
        self.transitions.run_close_hooks(conv, closed_by)
        if archive:
            self.transitions.later(self.archive_room, conv, closed_by)

    def archive_room(self, conv: Conversation, closed_by: str | None = None) -> None:
        """End the closed case's room, the intake's way (`rooms_for(conv).finish`): a group is
        archived, a livechat room closed with Rocket.Chat (which ends the visitor's chat)."""
        self.rooms_for(conv).finish(conv, closed_by or conv.closed_by or self.directory.bot_name)

    def tell_contact_closed(self, conv: Conversation) -> None:
        """The catalogue's `closed` (a livechat widget shows the end itself, see rooms)."""
        self.rooms_for(conv).tell_closed(conv)
