"""Where a command's answer goes (DESIGN "The agent console"): never into a room a customer reads.

- in the agent's DM: there (in the thread the command was typed in);
- in a conversation room (a livechat or case room: the contact reads it), typed by staff: in
  the agent's console thread for that conversation, and the command message is deleted where
  the bot may delete it (`delete-message`), once the command's work has committed (after its
  handler returned: deleted before, a crash would lose it on replay);
  `commands.in_customer_rooms: refuse` refuses the command instead (the refusal in the console
  too). The contact's own commands (`/close`) are answered in their room;
- in any other room: there when every member is staff, else in the agent's DM.

A command the rate limit refused in a customer room is deleted from it too
(`refused_command`); its refusal goes to the sender's DM (`bot.dispatch.middleware.RateLimit`).

`Context.reply` asks `where`, so no command can answer into a customer room by mistake.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.chat.errors import RocketChatError
from bot.chat.types import Message
from bot.domain import Conversation
from bot.services.console import Console
from bot.services.directory import STAFF_ROLES, Directory
from bot.store.conversations import ConversationRepo

log = logging.getLogger("omnicat.workflow.replies")

#: how long a room's "all members are staff" answer is trusted
MEMBERS_TTL = 30.0


class Replies:
    def __init__(self, directory: Directory, console: Console, repo: ConversationRepo) -> None:
        self.directory = directory
        self.console = console
        self.repo = repo
        self._staff_rooms: dict[str, tuple[float, bool]] = {}

    def is_staff(self, username: str) -> bool:
        return self.directory.is_staff(username)

    def all_staff(self, rid: str) -> bool:
        """Whether every member of `rid` is staff (cached briefly; unknown: no)."""
        now = time.monotonic()
        cached = self._staff_rooms.get(rid)
        if cached is not None and now - cached[0] < MEMBERS_TTL:
            return cached[1]
        try:
            members = self.directory.chat.members(rid)
        except RocketChatError:
            log.warning("cannot list the members of %s", rid, exc_info=True)
            return False
        verdict = bool(members) and all(
            self.is_staff(m.username) or bool(STAFF_ROLES & set(m.roles)) for m in members
        )
        self._staff_rooms[rid] = (now, verdict)
        return verdict

    def typed_in_customer_room(
        self, rid: str, room_kind: str, username: str, conv: Conversation | None = None
    ) -> bool:
        """Whether a command `username` typed in `rid` sits where a customer reads it: a
        conversation room (unless they are its contact: their own `/close`), or another room
        that is not a DM and whose members are not all staff."""
        if room_kind == "conversation":
            conv = conv or self.repo.by_room(rid)
            return conv is None or username != conv.contact_username
        return room_kind != "dm" and not self.all_staff(rid)

    def refused_command(self, message: Message, room_kind: str) -> None:
        """A command the rate limit refused (`Routes.refused_command`): nothing ran, and its
        refusal went to the sender's DM; typed in a customer room, it is deleted from there
        like a command that ran (the dispatcher calls this before the processed mark)."""
        if self.typed_in_customer_room(message.rid, room_kind, message.author.username):
            self._delete(message.rid, message.id)

    def conversation_of(self, ctx: Any) -> Conversation | None:
        if ctx.room_kind == "conversation":
            return ctx.conversation or self.repo.by_room(ctx.rid)
        return None

    def where(self, ctx: Any) -> tuple[str, str | None]:
        """(rid, thread) for the answers of the command in `ctx`, decided once per command."""
        routed = getattr(ctx, "answer_to", None)
        if routed is not None:
            return routed
        message = ctx.message
        dest = (ctx.rid, message.tmid)
        conv = self.conversation_of(ctx)
        customer_room = self.typed_in_customer_room(ctx.rid, ctx.room_kind, ctx.user.username, conv)
        if customer_room:
            thread = None
            # a console thread's root names the contact and quotes them: staff only
            if conv is not None and self.is_staff(ctx.user.username):
                thread = self.console.thread(conv, ctx.user.username)
            dest = (
                (thread.dm_rid, thread.root_id)
                if thread is not None
                else (self.directory.chat.dm_room(ctx.user.username), None)
            )
        ctx.answer_to = dest
        if customer_room:
            # Not now: the command's work has not committed yet, and a kill -9 before it did
            # would lose the command for good (catch-up replays from the room's history). Once
            # the handler returned, a replay is no longer needed.
            when_done = getattr(ctx, "when_done", None)
            if when_done is not None:
                when_done(lambda: self._delete_command(ctx))
            else:
                self._delete_command(ctx)
        return dest

    def refuses(self, ctx: Any) -> bool:
        """The command was typed in a customer room and the config says refuse."""
        if self.directory.config.commands.in_customer_rooms != "refuse":
            return False
        return self.where(ctx) != (ctx.rid, ctx.message.tmid)

    def _delete_command(self, ctx: Any) -> None:
        self._delete(ctx.rid, ctx.message.id)

    def _delete(self, rid: str, msg_id: str) -> None:
        try:
            self.directory.chat.delete_message(rid, msg_id)
        except RocketChatError as exc:
            # not granted `delete-message`: `omnicat check-server` recommends the grant
            log.info("cannot delete the command %s in %s: %s", msg_id, rid, exc)
