"""Finding conversations and who may see them: lookup by number or room, the queue a user sees
(department isolation), a chat's place in its queue and its first line."""

from __future__ import annotations

from bot.chat.types import User
from bot.domain import (
    Conversation,
    Refused,
    Viewer,
    can_access,
    can_see_queued,
    ordered,
    position,
)
from bot.services import notify
from bot.services.directory import Directory
from bot.services.transitions import not_found
from bot.store.conversations import ConversationRepo
from bot.store.messages import MessageRepo


class QueueView:
    def __init__(
        self,
        directory: Directory,
        repo: ConversationRepo,
        messages: MessageRepo,
        *,
        sorting: str = "timestamp",
    ) -> None:
        #: `routing.sorting` (Omnichannel_sorting_mechanism): the order every queue reads in
        self.sorting = sorting
        self.directory = directory
        self.perms = directory.perms
        self.repo = repo
        self.messages = messages

    def get(self, number: int) -> Conversation:
        conv = self.repo.get(number)
        if conv is None:
            raise not_found(number)
        return conv

    def by_room(self, rid: str) -> Conversation | None:
        return self.repo.by_room(rid)

    def visible_queue(self, user: User, *, all_departments: bool = False) -> list[Conversation]:
        viewer = self.directory.viewer(user)
        if all_departments and not self.perms.has(viewer.roles, "view-livechat-manager"):
            raise Refused(
                "Only managers can see every department's queue (view-livechat-manager).",
                "error-not-allowed",
            )
        # A chat whose room is still being opened (no rid yet) is not takeable yet.
        return [
            c
            for c in self.waiting()
            if c.rid and can_see_queued(c, viewer, self.perms, all_departments=all_departments)
        ]

    def waiting(self, departments: list[str | None] | None = None) -> list[Conversation]:
        """Queued chats (of `departments`; None = all) in queue order: first served first."""
        return ordered(self.repo.queued(departments), self.sorting)

    def in_my_queue(self, conv: Conversation, viewer: Viewer) -> bool:
        """Department isolation: a chat of a department the agent is not in does not exist
        for them (managers' `/queue all` aside)."""
        return (
            conv.department is None
            or conv.department in viewer.departments
            or conv.default_agent == viewer.username
        )

    def may_see(self, user: User, conv: Conversation) -> bool:
        """Does `conv` exist for `user`? Staff (`view-livechat-rooms`), the chat's own people
        (contact, agent, invited, earlier agents), and agents of its department or of the public
        queue; for anyone else a chat of another department does not exist (department
        isolation), so commands answer for it exactly as for an unknown number."""
        viewer = self.directory.viewer(user)
        if can_access(conv, viewer, self.perms):
            return True
        if user.username in (conv.contact_username, *conv.previous_agents):
            return True
        return self.perms.has(viewer.roles, "view-l-room") and self.in_my_queue(conv, viewer)

    def first_line(self, conv: Conversation) -> str:
        for m in self.messages.for_conversations([conv.number]):
            if m.type is None and m.author_username == conv.contact_username and m.text.strip():
                return notify.first_line(m.text)
        return ""

    def queue_position(self, conv: Conversation) -> int | None:
        return position(conv, self.repo.queued([conv.department]), self.sorting)
