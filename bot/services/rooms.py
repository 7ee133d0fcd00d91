"""Where a conversation lives, per intake: the room strategies.

The conversation services decide who has a seat; a strategy makes the room follow
(`seat_changes`), ends the room at the close (`finish`), links to it and tells the contact
things. Two kinds of room:

- `GroupRooms` (intakes `dm`, `channel`): a private group the bot creates and owns. Seats are
  invites and kicks; a closed case's room is archived.
- `LivechatRooms` (intake `livechat`): Rocket.Chat's own omnichannel room (`t: 'l'`), served by
  the bot as bot agent. Rocket.Chat allows only JOIN and INVITE there, so a human comes in with
  `addUsersToRoom` (the bot stays `servedBy`) and leaves only through `livechat/room.forward`,
  which removes everyone but its target (research `livechat-intake.md` §2): moving a human out
  means forwarding to the new agent, or back to the bot, then rejoining and re-adding whoever
  keeps a seat. The close is `livechat/room.closeByUser`, which ends the visitor's chat.

Strategies run after the commit (as every chat effect). A failure is logged and raised as
`RoomEffectFailed` with a reason a user can read; the workflow decides whether to undo the
transition (a `/take` whose agent cannot be added) or to tell the actor.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.chat.errors import NotAllowed, RocketChatError
from bot.chat.types import Room
from bot.domain import Conversation, State
from bot.services.directory import Directory
from bot.services.posting import Posting

log = logging.getLogger("omnicat.workflow.rooms")

LIVECHAT = "livechat"
CHECK = "see `omnicat check-server`"


class RoomEffectFailed(Exception):
    """A room effect the server refused; `reason` is for the user who acted. `untouched`: the
    refusal came before anything changed in the room (so the transition can be undone)."""

    def __init__(self, reason: str, *, untouched: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.untouched = untouched


def add_reason(exc: RocketChatError, username: str, *, you: bool) -> str:
    who = "you" if you else f"@{username}"
    key = exc.key
    if key == "error-user-is-not-agent":
        return (
            f"I can't add {who} to this livechat room: {who} must be an Omnichannel agent on "
            "the server (the view-l-room permission). Ask an admin to give the livechat-agent "
            f"role ({CHECK})."
        )
    if isinstance(exc, NotAllowed) or key in {"error-not-allowed", "error-not-authorized"}:
        return (
            f"I can't add {who} to this livechat room: the bot lacks the "
            "add-user-to-joined-room permission on the server. Ask an admin to grant it to "
            f"the bot role ({CHECK})."
        )
    return f"I can't add {who} to this livechat room: {exc.reason}."


def forward_reason(exc: RocketChatError, target: str) -> str:
    key = exc.key
    if key == "error-user-is-offline":
        return (
            f"Rocket.Chat refused to transfer the livechat room to @{target}: they are offline "
            "or not available in Omnichannel."
        )
    if isinstance(exc, NotAllowed) or key in {"error-not-allowed", "error-not-authorized"}:
        return (
            "Rocket.Chat refused to transfer the livechat room: the bot lacks the "
            "transfer-livechat-guest permission. Ask an admin to grant it to the bot role "
            f"({CHECK})."
        )
    return f"Rocket.Chat refused to transfer the livechat room to @{target}: {exc.reason}."


def close_reason(exc: RocketChatError) -> str:
    key = exc.key
    if key == "error-tags-must-be-assigned-before-closing-chat":
        return "Rocket.Chat requires closing tags for this department: close with tags=…"
    if key == "error-comment-is-required":
        return "Rocket.Chat requires a comment to close this chat."
    if isinstance(exc, NotAllowed) or key in {"error-not-allowed", "error-not-authorized"}:
        return (
            "Rocket.Chat refused to close the livechat room: the bot lacks close-livechat-room "
            f"(or is not in the room). Ask an admin ({CHECK})."
        )
    return f"Rocket.Chat refused to close the livechat room: {exc.reason}."


class GroupRooms:
    """The private group the bot created for the conversation."""

    kind = "group"

    def __init__(self, directory: Directory, posting: Posting) -> None:
        self.directory = directory
        self.posting = posting

    def seat_changes(self, before: Conversation, after: Conversation) -> None:
        old, new = set(before.members()), set(after.members())
        if after.state is State.CLOSED:
            return  # the room is archived instead; people keep reading the history
        for username in sorted(old - new):
            self.posting.member(after, username, add=False)
        for username in sorted(new - old):
            self.posting.member(after, username, add=True)

    def sync(self, conv: Conversation, invite: list[str], remove: list[str]) -> list[str]:
        done = []
        for username in invite:
            self.posting.member(conv, username, add=True)
            done.append(f"invited @{username}")
        for username in remove:
            self.posting.member(conv, username, add=False)
            done.append(f"removed @{username}")
        return done

    def finished(self, room: Room) -> bool:
        return room.archived

    def finish(self, conv: Conversation, closed_by: str) -> None:
        """Archived, not kicked: the contact and the agents keep reading what was agreed,
        nobody can write into a finished case, and the transcript stays exactly the room's
        history. A new question starts a new conversation."""
        if not conv.rid:
            return
        try:
            self.directory.chat.archive(conv.rid)
        except RocketChatError:
            log.warning("cannot archive the room of #%s", conv.number, exc_info=True)

    def link(self, conv: Conversation) -> str:
        room = None
        if conv.rid:
            try:
                room = self.directory.chat.room_info(conv.rid)
            except RocketChatError:
                room = None
        name = (room.name if room else None) or conv.rid or f"#{conv.number}"
        base = self.directory.config.server.url.rstrip("/")
        return f"{name} ({base}/group/{name})"

    def tell_closed(self, conv: Conversation) -> None:
        self.posting.tell_customer(conv, "closed")


class LivechatRooms:
    """A Rocket.Chat livechat room (`t: 'l'`) the bot serves as bot agent."""

    kind = LIVECHAT

    def __init__(self, directory: Directory, posting: Posting) -> None:
        self.directory = directory
        self.posting = posting

    @property
    def chat(self) -> Any:
        return self.directory.chat

    # --- seats ------------------------------------------------------------------------------
    def seat_changes(self, before: Conversation, after: Conversation) -> None:
        if after.state is State.CLOSED or not after.rid:
            return  # `finish` closes the room, which removes everyone
        old, new = set(before.members()), set(after.members())
        # The room, not only our record, says who is in it: someone we could not move out
        # earlier (offline at a requeue) leaves at this change.
        stale = self._members(after.rid) - new - {self.chat.bot_user.username}
        stale.discard(after.contact_username)
        if old - new or stale:
            self._move_out(after, keep=new)
            return
        joining = new - old
        if after.agent in joining and self._serve(after, after.agent):
            joining.discard(after.agent)
        for username in sorted(joining):
            self.add(after, username, you=username == after.agent)

    def _serve(self, conv: Conversation, agent: str) -> bool:
        """Make `agent` Rocket.Chat's serving agent (`room.forward`): the widget's header,
        `servedBy`, its analytics and *Current chats* name the human, not the bot (see
        docs/internals.md, "Livechat: who serves"). The bot rejoins (or keeps its access
        through `view-livechat-rooms`). False when Rocket.Chat refuses (the agent is not
        available there, a grant is missing): the caller adds them as a member instead, the
        bot stays `servedBy`, and the agent is told why in their console."""
        assert conv.rid
        room = self.chat.livechat_room(conv.rid)
        if room is not None and room.served_by and room.served_by.username == agent:
            # named already (a repeat, a hand-over Rocket.Chat made): only the seat may lack
            if agent not in self._members(conv.rid):
                self.add(conv, agent, you=True)
            return True
        try:
            self._forward(conv, agent)
        except RoomEffectFailed as failed:
            log.info("livechat #%s: %s serves as a member only: %s", conv.number, agent, failed)
            self.posting.tell_agents(
                conv,
                f"Rocket.Chat would not make you the serving agent of #{conv.number} "
                f"({failed.reason}), so the visitor's widget still names the bot. Set your "
                "Omnichannel status to available to be named next time.",
                to=[agent],
                serving=False,
            )
            return False
        self._rejoin(conv)
        return True

    def add(self, conv: Conversation, username: str, *, you: bool = False) -> None:
        assert conv.rid
        try:
            self.chat.livechat_add_agent(conv.rid, username)
        except RocketChatError as exc:
            log.warning(
                "cannot add @%s to the livechat room of #%s: %s", username, conv.number, exc
            )
            raise RoomEffectFailed(add_reason(exc, username, you=you)) from exc

    def _move_out(self, conv: Conversation, *, keep: set[str]) -> None:
        """Everyone not in `keep` leaves: forward to the serving agent (or to the bot), the
        bot rejoins, the other seats are added again."""
        assert conv.rid
        rid = conv.rid
        bot = self.chat.bot_user
        room = self.chat.livechat_room(rid)
        served = room.served_by.username if room and room.served_by else None
        target = conv.agent if conv.agent in keep else None
        if target is not None and target != served:
            self._forward(conv, target)
            self._rejoin(conv)
            readd = keep - {target}
        elif target is not None:
            # the human serves already (they took it, issue 16): the others leave only by a
            # forward, so through the bot and back to them; refused back, they sit as a member
            self._forward(conv, bot.username)
            readd = set(keep)
            if self._serve(conv, target):
                readd.discard(target)
        else:
            if served == bot.username:
                # Rocket.Chat refuses a forward to whoever serves already: hand it to one of
                # the people leaving first, then back to the bot (which removes them).
                # (the most recent agent who lost their seat; the members list otherwise)
                present = self._members(rid) - keep - {bot.username, conv.contact_username}
                leaving = [u for u in reversed(conv.previous_agents) if u in present] + sorted(
                    present - set(conv.previous_agents)
                )
                if self._hand_over(conv, leaving):
                    self._forward(conv, bot.username, untouched=False)
                elif not self._through_department(conv, room, leaving):
                    if leaving:
                        log.info(
                            "#%s: %s stay in the livechat room until its next transfer "
                            "(offline: Rocket.Chat forwards a room only to a present agent)",
                            conv.number,
                            ", ".join("@" + u for u in leaving),
                        )
                    return
            else:
                self._forward(conv, bot.username)
            readd = set(keep)
        try:
            for username in sorted(readd):
                self.add(conv, username, you=username == conv.agent)
        except RoomEffectFailed as failed:
            failed.untouched = False
            raise

    def _through_department(
        self, conv: Conversation, room: Room | None, leaving: list[str]
    ) -> bool:
        """Everyone out through a forward to the room's own department, which gives the room
        back to the bot (the bot-agent setting); the bot takes it back from anyone else."""
        forward = getattr(self.chat, "livechat_forward_department", None)
        if not leaving or room is None or not room.department_id or forward is None:
            return False
        bot = self.chat.bot_user
        try:
            forward(conv.rid, room.department_id)
        except RocketChatError as exc:
            log.info("#%s: cannot move %s out via the department: %s", conv.number, leaving, exc)
            return False
        now = self.chat.livechat_room(conv.rid)
        served = now.served_by.username if now and now.served_by else None
        if served != bot.username:
            if served is not None:
                self._forward(conv, bot.username, untouched=False)
            else:
                self._rejoin(conv)
        return True

    def _hand_over(self, conv: Conversation, leaving: list[str]) -> bool:
        """Forward the room to the first of `leaving` Rocket.Chat accepts (it refuses an
        offline agent); False when none is: they stay in the room until the next change of
        seats, and nobody is told of a transfer they did not ask for (it is logged)."""
        for username in leaving:
            try:
                self._forward(conv, username)
            except RoomEffectFailed as failed:
                cause = failed.__cause__
                if not isinstance(cause, RocketChatError) or cause.key != "error-user-is-offline":
                    raise
                continue
            return True
        return False

    def _forward(self, conv: Conversation, username: str, *, untouched: bool = True) -> None:
        assert conv.rid
        user = self.directory.user(username)
        if username == self.chat.bot_user.username:
            user_id = self.chat.bot_user.id
        elif user is None:
            raise RoomEffectFailed(f"There is no user @{username} on the server.")
        else:
            user_id = user.id
        try:
            self.chat.livechat_forward(conv.rid, user_id)
        except RocketChatError as exc:
            log.warning(
                "cannot forward the livechat room of #%s to @%s: %s", conv.number, username, exc
            )
            raise RoomEffectFailed(forward_reason(exc, username), untouched=untouched) from exc

    def _rejoin(self, conv: Conversation) -> None:
        assert conv.rid
        try:
            self.chat.livechat_join(conv.rid)
        except RocketChatError as exc:
            # Not fatal: a bot with view-livechat-rooms still sees and closes the room.
            log.warning("cannot rejoin the livechat room of #%s: %s", conv.number, exc)

    def _members(self, rid: str) -> set[str]:
        try:
            return {u.username for u in self.chat.members(rid)}
        except RocketChatError:
            log.warning("cannot list the members of livechat room %s", rid, exc_info=True)
            return set()

    def sync(self, conv: Conversation, invite: list[str], remove: list[str]) -> list[str]:
        done = []
        if remove:
            self._move_out(conv, keep=set(conv.members()))
            return [f"moved out {', '.join('@' + u for u in remove)}"]
        for username in invite:
            self.add(conv, username)
            done.append(f"added @{username}")
        return done

    # --- the end ----------------------------------------------------------------------------
    def finished(self, room: Room) -> bool:
        return not room.open

    def finish(self, conv: Conversation, closed_by: str) -> None:
        """`livechat/room.closeByUser`: the visitor's widget ends the chat. Rocket.Chat
        requires a comment by default; Omnicat's own closing words stand in for a missing one."""
        if not conv.rid:
            return
        try:
            room = self.chat.livechat_room(conv.rid)
        except RocketChatError:
            room = None
        if room is not None and not room.open:
            return  # closed already (the visitor, or an agent in Rocket.Chat's own UI)
        # Rocket.Chat stores this comment as the `livechat-close` message, which the visitor
        # reads: only the catalogue's words go there; the agent's comment stays in the store.
        comment = self.posting.customer_text(conv, "closed")
        try:
            self.chat.livechat_close(conv.rid, comment, tuple(conv.tags))
        except RocketChatError as exc:
            if exc.key in {"error-room-already-closed", "room-closed", "error-room-closed"}:
                return  # what we wanted: closed (a repeat after a crash, or a race with RC)
            log.warning("cannot close the livechat room of #%s: %s", conv.number, exc)
            if closed_by != self.directory.bot_name:
                self.posting.tell_agents(
                    conv,
                    f"#{conv.number} is closed here, but " + close_reason(exc),
                    to=[closed_by],
                    serving=False,
                )

    def link(self, conv: Conversation) -> str:
        # as a group's "name (url)": the rid stands for the name (livechat rooms have none)
        base = self.directory.config.server.url.rstrip("/")
        rid = conv.rid or f"#{conv.number}"
        return f"{rid} ({base}/live/{rid})"

    def tell_closed(self, conv: Conversation) -> None:
        """The widget shows the end of the chat itself (`livechat-close`)."""
