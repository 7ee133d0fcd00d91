"""The agent's use cases on one conversation: take, take the next, hold, resume, close, invite.

Forwarding and returning to the queue live in `bot.services.transfers`. Each loads the
conversation through the store's compare-and-set (`Transitions.transition`), lets the domain
decide, then does the chat effects after the commit and outside the roster lock, holding the
conversation until they are posted (`one_conversation`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.chat import effect_scope
from bot.chat.types import User
from bot.domain import AGENT, Conversation, Refused, State, Transition
from bot.services import notify
from bot.services.directory import STAFF_SEES_ALL
from bot.services.transitions import NothingToDo, ensure_mine, one_conversation
from bot.services.usecase import UseCases

log = logging.getLogger("omnicat.workflow")

#: a take's event data: the effect scope (the command's message) that caused it
CAUSE = "cause"


class Conversations(UseCases):
    @one_conversation
    def take(self, user: User, number: int) -> Conversation:
        viewer = self.directory.viewer(user)
        self.directory.seen_active(user)
        not_mine = Refused(f"There is no conversation #{number} in your queue.", "error-not-found")

        def decide(conv: Conversation) -> Transition:
            if not self.queue.in_my_queue(conv, viewer):
                raise not_mine
            if conv.state is State.QUEUED:
                if not conv.rid or conv.rid in self.routing.opening_rooms:  # still being opened
                    raise Refused(
                        f"Conversation #{number} is still being opened; try again in a moment.",
                        "error-not-ready",
                    )
                self.roster.ensure_can_take(user.username, conv.department)
            taken = conv.take(user.username, self.clock())
            scope = effect_scope.current()
            if scope is not None:
                # what caused it (the command's message): `take_next` replayed finds it
                taken.event.data[CAUSE] = scope.key
            return taken

        try:
            before, (after, _e) = self.transitions.transition(number, decide)
        except Refused as refused:
            # an unknown number reads like another department's chat (as `/preview` says)
            if refused.key == "error-not-found":
                raise not_mine from None
            raise
        failed = self.effects.room_refusal(before, after)
        if failed and before.state is State.QUEUED and failed.untouched:
            # The agent cannot get into the room (a livechat room without the grant): the
            # chat goes back where it was, and the agent is told why, not left in silence.
            self._undo_take(number, user.username, failed.reason)
            raise Refused(failed.reason, "error-room-effect")
        self.effects.tell_assigned(after, "You took it")
        return after

    def _undo_take(self, number: int, username: str, problem: str) -> None:
        def decide(conv: Conversation) -> Transition:
            if conv.state is not State.SERVING or conv.agent != username:
                raise NothingToDo(conv)
            return conv.requeue(self.directory.bot_name, self.clock(), problem)

        try:
            self.transitions.transition(number, decide)
        except (NothingToDo, Refused):
            return
        self.transitions.later(self.routing.agent_freed, username, skip=(number,))

    def take_next(self, user: User) -> Conversation:
        """The oldest chat this agent may see; a chat someone else wins meanwhile is skipped.

        A replay of the same command (a crash after the take, before the message was marked
        processed) takes nothing more: it finds the chat it took the first time."""
        done = self._taken_by_this_event(user.username)
        if done is not None:
            return done
        for conv in self.queue.visible_queue(user):
            try:
                return self.take(user, conv.number)
            except Refused as refused:
                if refused.key == "error-inquiry-taken":
                    continue
                raise
        raise Refused("There are no chats waiting in your queue.", "error-queue-empty")

    def _taken_by_this_event(self, username: str) -> Conversation | None:
        """The chat the event being handled (its effect scope) made `username` take, if it
        did already: among their open chats (a few), the one whose last take names it."""
        scope = effect_scope.current()
        if scope is None:
            return None
        for conv in self.repo.for_agent(username, (State.SERVING,)):
            takes = [e for e in self.repo.events(conv.number) if e.kind == "taken"]
            if takes and takes[-1].actor == username and takes[-1].data.get(CAUSE) == scope.key:
                return conv
        return None

    @one_conversation
    def hold(self, user: User, number: int) -> Conversation:
        if not self.config.hold.enabled:
            raise Refused("Placing chats on hold is turned off here.", "error-hold-disabled")
        viewer = self.directory.viewer(user)

        def decide(conv: Conversation) -> Transition:
            ensure_mine(
                conv,
                viewer,
                self.perms,
                "on-hold-livechat-room",
                "on-hold-others-livechat-room",
                "place it on hold",
            )
            return conv.hold(
                user.username,
                self.clock(),
                agent_engagement_only=self.config.hold.require_agent_reply,
            )

        _before, (after, _e) = self.transitions.transition(number, decide)
        self.posting.tell_agents(
            after, f"Placed on hold by @{user.username}.", notify.HELD, to=[user.username]
        )
        self.posting.tell_customer(after, "on_hold")
        if after.agent:
            self.transitions.later(self.routing.agent_freed, after.agent)
        return after

    @one_conversation
    def resume(self, user: User, number: int) -> Conversation:
        viewer = self.directory.viewer(user)

        def decide(conv: Conversation) -> Transition:
            ensure_mine(
                conv, viewer, self.perms, "view-l-room", "on-hold-others-livechat-room", "resume it"
            )
            result = conv.resume(user.username, self.clock())
            you = conv.agent == user.username
            self.roster.ensure_available(conv.agent or "", you=you)
            self.roster.ensure_capacity(conv.agent or "", conv.department, you=you)
            return result

        _before, (after, _e) = self.transitions.transition(number, decide)
        self.posting.tell_agents(
            after, f"Resumed by @{user.username}.", notify.RESUMED, to=[user.username]
        )
        agent = after.agent or user.username
        self.posting.tell_customer(after, "resumed", agent_name=self.posting.agent_name(agent))
        return after

    @one_conversation
    def close(
        self,
        user: User,
        number: int,
        comment: str | None = None,
        *,
        tags: Iterable[str] = (),
        pdf: bool = False,
        email: str | bool | None = None,
        archive: bool = True,
    ) -> Conversation:
        """Close; `archive=False` leaves archiving the room to the caller (`archive_room`), so
        a command typed in the room can still answer there first."""
        viewer = self.directory.viewer(user)
        # Refused before anything changes, and said so: the agent must not believe it closed.
        if pdf and not self.perms.has(viewer.roles, "request-pdf-transcript"):
            raise Refused(
                "You don't have permission to request a PDF transcript, so I did not close "
                f"#{number}: it is still open. Close it without +pdf.",
                "error-not-allowed",
            )
        if email and not self.perms.has(viewer.roles, "send-omnichannel-chat-transcript"):
            raise Refused(
                "You don't have permission to send e-mail transcripts, so I did not close "
                f"#{number}: it is still open. Close it without +email.",
                "error-not-allowed",
            )
        tags = tuple(tags)

        def decide(conv: Conversation) -> Transition:
            ensure_mine(
                conv,
                viewer,
                self.perms,
                "close-livechat-room",
                "close-others-livechat-room",
                "close it",
            )
            address = self.transcript_address(conv, email)
            dept = self.roster.departments.get(conv.department) if conv.department else None
            now = self.clock()
            result = conv.close(
                user.username,
                now,
                comment,
                tags=tags,
                closer=AGENT,
                require_comment=self.config.close.require_comment,
                require_tags=bool(dept and dept.require_tags),
                closing_tags=dept.closing_tags if dept else (),
                pdf=pdf,
                email=address,
                command=self.directory.command_word("close"),
            )
            closed = result.conversation
            result.event.data.update(
                queue_seconds=closed.queue_seconds(now),
                chat_seconds=closed.chat_seconds(now),
                service_seconds=closed.service_seconds(now),
            )
            return result

        before, (after, _e) = self.transitions.transition(number, decide)
        if email is True and after.transcript_email:
            # bare +email: the contact's own address, now on their record too
            self.learn_email(after.contact_username, after.transcript_email)
        self.effects.finish_close(after, user.username, archive=archive)
        if before.agent and before.state is State.SERVING:
            self.transitions.later(self.routing.agent_freed, before.agent)
        return after

    def contact_email(self, username: str) -> str | None:
        """The contact's address: the contact record's, else their server account's."""
        contact = self.repo.contact(username)
        if contact is not None and contact.email:
            return contact.email
        found = self.directory.user(username)
        return found.email if found is not None and found.email else None

    def learn_email(self, username: str, address: str) -> None:
        """Keep an address a close used on the contact record, when the record has none
        (`/contact` and `{{contact.email}}` show it from then on)."""
        contact = self.repo.contact(username)
        if contact is None or not contact.email:
            self.repo.update_contact(username, email=address)

    def transcript_address(self, conv: Conversation, email: str | bool | None) -> str | None:
        if not email:
            return None
        if isinstance(email, str):
            return email
        address = self.contact_email(conv.contact_username)
        if not address:
            raise Refused(
                f"I don't know @{conv.contact_username}'s e-mail address; write +email=address.",
                "error-invalid-email",
            )
        return address

    @one_conversation
    def invite(self, user: User, number: int, target: str) -> Conversation:
        viewer = self.directory.viewer(user)
        target_user = self.directory.user(target)
        if target_user is None:
            raise Refused(f"There is no user @{target}.", "error-invalid-user")
        if not self.directory.may(target_user, "view-l-room"):
            raise Refused("User is not an Omnichannel Agent", "error-user-is-not-agent")

        def decide(conv: Conversation) -> Transition:
            ensure_mine(
                conv, viewer, self.perms, "view-l-room", STAFF_SEES_ALL, "invite people to it"
            )
            return conv.invite(target_user.username, user.username, self.clock())

        before, (after, _e) = self.transitions.transition(number, decide)
        problem = self.effects.seat_changes(before, after)
        if problem:
            self.posting.tell_agents(
                after, f"#{number}: {problem}", to=[user.username], serving=False
            )
        self.posting.tell_agents(
            after,
            f"@{target_user.username} was invited by @{user.username}.",
            notify.INVITED,
            to=[user.username],
        )
        self.posting.tell_agents(
            after,
            f"@{user.username} invited you to conversation #{number} with "
            f"{notify.contact_label(after)}: {self.effects.room_link(after)}",
            to=[target_user.username],
            serving=False,
        )
        return after
