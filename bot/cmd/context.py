"""What a handler gets: the acting user, the room, converted arguments and the ports to act."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from bot.chat import effect_scope
from bot.chat.errors import RocketChatError
from bot.chat.port import ChatPort
from bot.chat.sending import sized
from bot.chat.types import Message, User
from bot.cmd.registry import Args
from bot.domain.clock import utc_now
from bot.domain.permissions import Permissions

log = logging.getLogger("omnicat.commands")


class UserPermissions:
    """The one permission table (`bot.domain.permissions.Permissions`, asked with roles) asked
    about a chat user: `has(user, permission)`.

    `roles_of(user)` adds roles the server does not know: the workflow counts a user listed in a
    YAML department as a `livechat-agent` (issue 4), and a command's permission must see the same
    roles as the workflow's own checks do.
    """

    def __init__(
        self, table: Permissions, roles_of: Callable[[User], Iterable[str]] | None = None
    ) -> None:
        self.table = table
        self.roles_of = roles_of

    def has(self, user: User, permission: str) -> bool:
        return self.table.has(self.roles(user), permission)

    def roles(self, user: User) -> Iterable[str]:
        """The user's server roles, and the ones `roles_of` adds."""
        if self.roles_of is None:
            return user.roles
        return {*user.roles, *self.roles_of(user)}

    def profile(self, user: User) -> Hashable:
        """All that this user's answers depend on: the table and the user's whole role set.
        Two users with one profile get the same answer to every question (`/help` lists the
        same commands for them)."""
        return (self.table, frozenset(self.roles(user)))

    def with_roles(self, roles_of: Callable[[User], Iterable[str]]) -> UserPermissions:
        """The same table, with `roles_of` adding roles."""
        return UserPermissions(self.table, roles_of)

    def remembering(self) -> UserPermissions:
        """The same, each user's roles looked up once: for one command's context, where
        `/help` asks about its caller once per command (19 directory lookups, a quarter of
        the command). Roles may change between commands; within one they are taken as fixed."""
        if self.roles_of is None:
            return self
        return _RememberedRoles(self.table, self.roles_of)


class _RememberedRoles(UserPermissions):
    """`UserPermissions.remembering()`: each user's whole role set (server roles and the added
    ones) worked out once, and each answer given once: `/help` asks about its caller for every
    command it lists (the staff question each time)."""

    def __init__(self, table: Permissions, roles_of: Callable[[User], Iterable[str]]) -> None:
        super().__init__(table, roles_of)
        self._known: dict[tuple[str, str, tuple[str, ...]], frozenset[str]] = {}
        self._answers: dict[tuple[str, str, tuple[str, ...], str], bool] = {}
        # The user last asked about and their answers by permission: `/help` asks about the
        # same `User` object two dozen times, and building and hashing the full key each time
        # was most of the listing's cost. `User` is frozen: the same object, the same key.
        # One attribute, swapped whole: a handler's own thread never reads one user's answers
        # as another's.
        self._last: tuple[User | None, dict[str, bool]] = (None, {})

    def has(self, user: User, permission: str) -> bool:
        last_user, last_answers = self._last
        if user is last_user:
            answer = last_answers.get(permission)
            if answer is not None:
                return answer
        else:
            last_answers = {}
            self._last = (user, last_answers)
        key = (user.id, user.username, user.roles, permission)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = super().has(user, permission)
        last_answers[permission] = answer
        return answer

    def roles(self, user: User) -> Iterable[str]:
        key = (user.id, user.username, user.roles)
        roles = self._known.get(key)
        if roles is None:
            roles = self._known[key] = frozenset(super().roles(user))
        return roles


@functools.cache
def default_permissions() -> UserPermissions:
    """Rocket.Chat's default table, for a `Context` made without one (tests)."""
    return UserPermissions(Permissions())


@dataclass
class Context:
    user: User
    rid: str
    room_kind: str  # "dm" | "conversation" | "other"
    message: Message
    chat: ChatPort
    store: Any = None
    config: Any = None
    clock: Callable[[], datetime] = utc_now
    services: Any = field(default_factory=SimpleNamespace)
    permissions: UserPermissions = field(default_factory=default_permissions)
    args: Args = field(default_factory=Args)
    #: the Conversation this room holds; set by the workflow
    conversation: Any = None
    #: the command registry (for /help) and the prefix the user typed ("/" for bare DM words)
    registry: Any = None
    prefix: str = "/"
    command: Any = None
    replies: list[str] = field(default_factory=list)
    #: (rid, thread) the answers go to, once decided (`bot.services.replies`)
    answer_to: tuple[str, str | None] | None = None
    #: steps that must wait until the command's work has committed (the dispatcher runs them
    #: after the handler returned, `Event.after_handlers`); None: nobody runs them later, so
    #: they run at once (a bare framework test)
    after_handling: list[Callable[[], None]] | None = None

    def when_done(self, step: Callable[[], None]) -> None:
        """Run `step` once the command's work has committed (at once without a dispatcher)."""
        if self.after_handling is None:
            step()
        else:
            self.after_handling.append(step)

    def reply(self, text: str) -> None:
        """Answer the command, in as many messages as the server's size limit needs. Where is
        the services' decision (`services.replies`): never a room a customer reads; without it
        (a bare framework test), where it was typed. A refused answer is logged (by the sending
        layer) and the person who waited for it is told in one short line what failed."""
        self.replies.append(text)
        router = getattr(self.services, "replies", None)
        rid, tmid = router.where(self) if router is not None else (self.rid, self.message.tmid)
        chat = sized(self.chat)
        scope = effect_scope.current()

        def lost(exc: RocketChatError) -> None:  # maybe later, on another thread
            short = f"I could not send my answer: the server refused it ({exc.reason})."
            with effect_scope.entered(scope), effect_scope.role("reply"):
                try:
                    chat.send(rid, short, tmid=tmid) if tmid else chat.send(rid, short)
                except RocketChatError:
                    log.warning("cannot tell %s that an answer was lost", rid, exc_info=True)

        # The answer's ids count apart from the notes the command posts in the same DM (its
        # console thread's): a replayed command whose transition is refused now answers
        # under the first run's answer id, never under a note's (`effect_scope.role`).
        # Nothing is awaited: the event is marked processed once the answer is stored
        # (`bot.chat.gates`).
        with effect_scope.role("reply"):
            try:
                chat.send_soon(rid, text, tmid=tmid, lost=lost)
            except RocketChatError as exc:  # refused before it went out (a lost lease)
                lost(exc)

    def may(self, permission: str) -> bool:
        return self.permissions.has(self.user, permission)
