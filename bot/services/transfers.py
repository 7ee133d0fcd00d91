"""The agent's transfers: back to the queue, forward to an agent, forward to a department.

A transfer Rocket.Chat refuses before anything changed in the room (a livechat forward to an
offline agent) is undone, so the conversation stays where the room is.
"""

from __future__ import annotations

import logging
from functools import cached_property

from bot.chat.types import User
from bot.domain import Conversation, Refused, State, Transition
from bot.services import notify
from bot.services.directory import STAFF_SEES_ALL
from bot.services.sla import SlaPolicies
from bot.services.transitions import NothingToDo, ensure_mine, one_conversation
from bot.services.usecase import UseCases

log = logging.getLogger("omnicat.workflow")


class Transfers(UseCases):
    @cached_property
    def sla(self) -> SlaPolicies:
        """The SLA policies a department forward applies (issue 19)."""
        return SlaPolicies(self.config)

    @one_conversation
    def requeue(self, user: User, number: int, comment: str | None = None) -> Conversation:
        viewer = self.directory.viewer(user)

        def decide(conv: Conversation) -> Transition:
            ensure_mine(conv, viewer, self.perms, "view-l-room", STAFF_SEES_ALL, "move it")
            if conv.state is State.ON_HOLD:
                raise Refused(
                    f"Conversation #{conv.number} is on hold; resume it before you move it "
                    "back to the queue.",
                    "error-room-onHold",
                )
            return conv.requeue(user.username, self.clock(), comment)

        before, (after, _e) = self.transitions.transition(number, decide)
        self.posting.tell_agents(
            after,
            notify.with_comment(f"Returned to the queue by @{user.username}", comment),
            notify.TRANSFER,
            to=[user.username, before.agent or ""],
        )
        problem = self.effects.seat_changes(before, after)
        if problem:
            self.posting.tell_agents(
                after, f"#{number}: {problem}", to=[user.username], serving=False
            )
        after = self.routing.route(number, exclude=[before.agent] if before.agent else [])
        if before.agent:
            # the freed slot may take other waiting chats, never the one just handed back
            self.transitions.later(self.routing.agent_freed, before.agent, skip=(number,))
        return after

    @one_conversation
    def forward_to_agent(
        self, user: User, number: int, target: str, comment: str | None = None
    ) -> Conversation:
        viewer = self.directory.viewer(user)
        target_user = self.directory.user(target)
        if target_user is None:
            raise Refused(f"There is no user @{target}.", "error-invalid-user")
        if not self.directory.is_agent(target_user):
            raise Refused(f"@{target} is not an Omnichannel agent.", "error-user-is-not-agent")
        target = target_user.username

        def decide(conv: Conversation) -> Transition:
            ensure_mine(
                conv, viewer, self.perms, "transfer-livechat-guest", STAFF_SEES_ALL, "forward it"
            )
            agent = self.roster.agents.get(target)
            result = conv.forward_to_agent(
                target,
                user.username,
                self.clock(),
                comment,
                target_available=agent is not None and agent.is_available,
            )
            self.roster.ensure_capacity(target, conv.department, you=False)
            return result

        before, (after, _e) = self.transitions.transition(number, decide)
        failed = self.effects.room_refusal(before, after)
        if failed and failed.untouched and before.agent and before.state is State.SERVING:
            # Rocket.Chat refused the transfer (the target is offline there, a grant is
            # missing): the room did not change, so neither does the conversation.
            self._undo_forward(number, before.agent, target, failed.reason)
            raise Refused(failed.reason, "error-room-effect")
        self.posting.tell_agents(
            after,
            notify.with_comment(f"Forwarded to @{target} by @{user.username}", comment),
            notify.TRANSFER,
            to=[user.username, before.agent or ""],
        )
        self.posting.tell_customer(after, "transferred")
        why = (
            f"@{user.username} forwarded to you"
            + (f" ({notify.inline(comment)})" if comment else "")
            + ":"
        )
        self.effects.after_assignment(
            before, after, why, actor=user.username, seated=True, refusal=failed
        )
        if before.agent:
            self.transitions.later(self.routing.agent_freed, before.agent)
        return after

    @one_conversation
    def forward_to_department(
        self, user: User, number: int, department: str, comment: str | None = None
    ) -> Conversation:
        viewer = self.directory.viewer(user)
        notify_box: list[tuple[str, ...]] = []
        target = self.roster.departments.get(department)
        if target is not None and not target.agents:
            raise Refused(
                f"{department} has no agents, so nobody there could take #{number}; "
                "it stays where it is.",
                "error-no-agents-in-department",
            )

        def decide(conv: Conversation) -> Transition:
            ensure_mine(
                conv, viewer, self.perms, "transfer-livechat-guest", STAFF_SEES_ALL, "forward it"
            )
            current = self.roster.departments.get(conv.department) if conv.department else None
            exclude = (conv.agent,) if conv.agent else ()
            agent = None
            if conv.state is not State.ON_HOLD and department != conv.department:
                agent = self.router.choose(department, exclude=exclude)
                notify_box[:] = [tuple(self.router.eligible(department, exclude=exclude))]
            return conv.forward_to_department(
                department,
                user.username,
                self.clock(),
                comment,
                allowed_targets=current.forward_to if current else (),
                agent=agent,
                sla=self.sla.after_forward(conv, department),
            )

        before, (after, _e) = self.transitions.transition(number, decide)
        self.posting.tell_agents(
            after,
            notify.with_comment(f"Forwarded to {department} by @{user.username}", comment),
            notify.TRANSFER,
            to=[user.username, before.agent or ""],
        )
        self.posting.tell_customer(after, "transferred")
        if after.state is State.SERVING:
            self.effects.after_assignment(
                before,
                after,
                f"@{user.username} forwarded to {department}"
                + (f" ({notify.inline(comment)})" if comment else "")
                + ", assigned to you:",
                actor=user.username,
            )
        else:
            problem = self.effects.seat_changes(before, after)
            if problem:
                self.posting.tell_agents(
                    after, f"#{number}: {problem}", to=[user.username], serving=False
                )
            if self.router.method_of(department) == "manual" and notify_box:
                self.effects.notify_waiting(after, notify_box[0])
        if before.agent:
            self.transitions.later(self.routing.agent_freed, before.agent)
        return after

    def _undo_forward(self, number: int, back_to: str, target: str, problem: str) -> None:
        def decide(conv: Conversation) -> Transition:
            if conv.state is not State.SERVING or conv.agent != target:
                raise NothingToDo(conv)
            return conv.forward_to_agent(
                back_to, self.directory.bot_name, self.clock(), problem, target_available=True
            )

        try:
            self.transitions.transition(number, decide)
        except (NothingToDo, Refused):
            log.warning("cannot undo the refused forward of #%s", number, exc_info=True)
