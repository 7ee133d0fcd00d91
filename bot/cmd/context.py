"""What a handler gets: the acting user, the room, converted arguments and the ports to act."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Protocol

from bot.chat.port import ChatPort
from bot.chat.types import Message, User
from bot.cmd.registry import Args
from bot.domain.clock import utc_now


class Permissions(Protocol):
    def has(self, user: User, permission: str) -> bool: ...


class RolePermissions:
    """`{permission: roles}`: a user has a permission when one of their roles is listed.

    The real table lives in `bot/domain/permissions.py`; this is the mechanism and a safe
    default (an unlisted permission is granted to `admin` only).
    """

    def __init__(self, table: Mapping[str, Iterable[str]] | None = None) -> None:
        self.table = {k: frozenset(v) for k, v in (table or {}).items()}

    def has(self, user: User, permission: str) -> bool:
        roles = self.table.get(permission, frozenset({"admin"}))
        return any(role in roles for role in user.roles)


class CallablePermissions:
    """Adapts a plain `fn(user, permission) -> bool`."""

    def __init__(self, fn: Callable[[User, str], bool]) -> None:
        self.fn = fn

    def has(self, user: User, permission: str) -> bool:
        return bool(self.fn(user, permission))


class RoleTable:
    """Adapts a role table whose `has` takes roles (`bot.domain.permissions.Permissions`)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def has(self, user: User, permission: str) -> bool:
        return bool(self.table.has(user.roles, permission))


class WithRoles:
    """Checks `inner` with the roles `roles_of(user)` says the user has, beyond the server's.

    The workflow counts a user listed in a YAML department as a `livechat-agent` (issue 4),
    and a command's permission must see the same roles as the workflow's own checks do.
    """

    def __init__(self, inner: Permissions, roles_of: Callable[[User], Iterable[str]]) -> None:
        self.inner = inner
        self.roles_of = roles_of

    def has(self, user: User, permission: str) -> bool:
        extra = tuple(sorted(set(self.roles_of(user)) - set(user.roles)))
        if extra:
            user = dataclasses.replace(user, roles=(*user.roles, *extra))
        return self.inner.has(user, permission)


def as_permissions(value: Any) -> Permissions:
    """Anything that says who may do what, as a `has(user, permission)` object."""
    if value is None:
        return RolePermissions()
    if hasattr(value, "roles_for") and hasattr(value, "has"):
        return RoleTable(value)
    if hasattr(value, "has"):
        return value
    if isinstance(value, Mapping):
        return RolePermissions(value)
    if callable(value):
        return CallablePermissions(value)
    raise TypeError(f"not a permissions object: {value!r}")


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
    permissions: Permissions = field(default_factory=RolePermissions)
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

    def reply(self, text: str) -> None:
        """Answer the command. Where is the services' decision (`services.replies`): never a
        room a customer reads. Without it (a bare framework test): where it was typed."""
        self.replies.append(text)
        router = getattr(self.services, "replies", None)
        rid, tmid = router.where(self) if router is not None else (self.rid, self.message.tmid)
        # a command typed in a thread is answered in that thread
        if tmid:
            self.chat.send(rid, text, tmid=tmid)
        else:
            self.chat.send(rid, text)

    def may(self, permission: str) -> bool:
        return self.permissions.has(self.user, permission)
