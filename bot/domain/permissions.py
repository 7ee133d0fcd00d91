"""The permission table (Rocket.Chat's names and default roles, rules §9-§10), YAML overrides,
and who may see or act on which conversation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.domain.conversation import Conversation, State

ADMIN = "admin"
MANAGER = "livechat-manager"
MONITOR = "livechat-monitor"
AGENT = "livechat-agent"

_ALL = (ADMIN, MANAGER, MONITOR, AGENT)
_STAFF = (ADMIN, MANAGER, MONITOR)
_BOSSES = (ADMIN, MANAGER)

# permission -> default roles. One table; `Permissions(overrides)` replaces whole rows.
DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "view-l-room": _ALL,
    "view-livechat-manager": _STAFF,
    "view-livechat-rooms": _STAFF,
    "view-livechat-queue": _ALL,
    "close-livechat-room": _ALL,
    "close-others-livechat-room": _STAFF,
    "transfer-livechat-guest": _STAFF,
    "on-hold-livechat-room": _ALL,
    "on-hold-others-livechat-room": _STAFF,
    "save-others-livechat-room-info": _STAFF,
    "view-livechat-room-customfields": _ALL,
    "edit-livechat-room-customfields": _ALL,
    "view-livechat-room-closed-same-department": _STAFF,
    "view-livechat-room-closed-by-another-agent": _STAFF,
    "send-omnichannel-chat-transcript": _BOSSES,
    "request-pdf-transcript": _ALL,
    "view-livechat-contact": _ALL,
    "create-livechat-contact": _ALL,
    "update-livechat-contact": _ALL,
    "view-livechat-contact-history": _ALL,
    "delete-livechat-contact": _BOSSES,
    "view-omnichannel-contact-center": _ALL,
    "edit-omnichannel-contact": (ADMIN, MANAGER, AGENT),
    "change-livechat-room-visitor": (ADMIN, MANAGER, AGENT),
    "manage-livechat-agents": _STAFF,
    "manage-livechat-departments": _STAFF,
    "add-livechat-department-agents": _STAFF,
    "manage-livechat-managers": _BOSSES,
    "remove-closed-livechat-room": _STAFF,
    "remove-closed-livechat-rooms": _STAFF,
    "view-livechat-analytics": _STAFF,
    "view-livechat-real-time-monitoring": _STAFF,
    "view-livechat-business-hours": _STAFF,
    "view-livechat-departments": _STAFF,
    "manage-livechat-units": _BOSSES,
    "manage-livechat-monitors": _BOSSES,
    "manage-livechat-tags": _BOSSES,
    "manage-livechat-priorities": _BOSSES,
    "manage-livechat-sla": _BOSSES,
    "view-livechat-reports": _STAFF,
    # canned responses (rules §9)
    "view-canned-responses": _ALL,
    "view-all-canned-responses": _BOSSES,
    "view-agent-canned-responses": (AGENT,),
    "save-canned-responses": _ALL,
    "save-all-canned-responses": _BOSSES,
    "save-department-canned-responses": (MONITOR,),
    "remove-canned-responses": _ALL,
    "manage-livechat-canned-responses": _STAFF,
}


class UnknownPermission(ValueError):
    pass


class Permissions:
    """`has(roles, permission)`; admins get nothing implicitly beyond the table (as in RC)."""

    def __init__(self, overrides: Mapping[str, Iterable[str]] | None = None) -> None:
        table = dict(DEFAULT_ROLES)
        for perm, roles in (overrides or {}).items():
            if perm not in table:
                raise UnknownPermission(f"unknown permission {perm!r}")
            if isinstance(roles, str):
                raise TypeError(f"permissions.{perm} must be a list of roles")
            table[perm] = tuple(roles)
        self._roles = {perm: frozenset(roles) for perm, roles in table.items()}

    @classmethod
    def from_config(cls, config: Any) -> Permissions:
        """The table with the YAML `permissions.overrides` of `config` (None: the defaults)."""
        overrides = getattr(getattr(config, "permissions", None), "overrides", None)
        return cls(overrides or None)

    def has(self, roles: Iterable[str], permission: str) -> bool:
        allowed = self._roles.get(permission)
        if allowed is None:
            raise UnknownPermission(f"unknown permission {permission!r}")
        return not allowed.isdisjoint(roles)

    def roles_for(self, permission: str) -> frozenset[str]:
        return self._roles[permission]

    def names(self) -> list[str]:
        return sorted(self._roles)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: username, server roles (+ livechat-agent for YAML agents), departments."""

    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    departments: frozenset[str] = field(default_factory=frozenset)


def viewer_for(username: str, roles: Iterable[str], departments: Iterable[str] = ()) -> Viewer:
    """A `Viewer`; a member of any department counts as an agent even without the server's
    `livechat-agent` role (issue 4: "or listed in any department")."""
    depts = frozenset(departments)
    all_roles = frozenset(roles) | ({AGENT} if depts else frozenset())
    return Viewer(username, all_roles, depts)


def can_see_queued(
    conv: Conversation, viewer: Viewer, perms: Permissions, *, all_departments: bool = False
) -> bool:
    """Rules §2.4: own departments, the public queue, or chats waiting for this agent;
    `/queue all` shows every department to managers (`view-livechat-manager`)."""
    if all_departments and perms.has(viewer.roles, "view-livechat-manager"):
        return True
    if not perms.has(viewer.roles, "view-l-room"):
        return False
    return (
        conv.department is None
        or conv.department in viewer.departments
        or conv.default_agent == viewer.username
    )


def can_access(conv: Conversation, viewer: Viewer, perms: Permissions) -> bool:
    """Rules §7 (access validators): may this viewer open/read the conversation?"""
    if perms.has(viewer.roles, "view-livechat-rooms"):
        return True
    if viewer.username == conv.agent or viewer.username in conv.invited:
        return True
    if conv.state is State.QUEUED:
        return can_see_queued(conv, viewer, perms)
    if conv.state is State.CLOSED:
        if viewer.username in conv.previous_agents:
            return True
        if perms.has(viewer.roles, "view-livechat-room-closed-by-another-agent"):
            return True
        return (
            conv.department is not None
            and conv.department in viewer.departments
            and perms.has(viewer.roles, "view-livechat-room-closed-same-department")
        )
    return False


def may_act(
    conv: Conversation, viewer: Viewer, perms: Permissions, own: str, others: str | None = None
) -> bool:
    """An action needing `own` on chats one is in (serving or invited: RC's subscription) and
    `others` (e.g. close-others-livechat-room) on the rest."""
    if not perms.has(viewer.roles, own):
        return False
    if viewer.username == conv.agent or viewer.username in conv.invited:
        return True
    return others is not None and perms.has(viewer.roles, others)
