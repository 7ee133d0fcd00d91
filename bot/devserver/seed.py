"""Seed files (users and public rooms) and Rocket.Chat's default role tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .state import State

M, MO, A, ADM = "livechat-manager", "livechat-monitor", "livechat-agent", "admin"

# RC defaults (apps/meteor/app/authorization/server/constant/permissions.ts and EE
# livechat-enterprise/server/permissions.ts) for what a bot checks; see omnichannel-rules §9, §10.
DEFAULT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    # basics
    "view-c-room": ("admin", "user", "bot", "app", "anonymous"),
    "view-p-room": ("admin", "user", "anonymous", "guest"),
    "view-d-room": ("admin", "user", "bot", "app", "guest"),
    "preview-c-room": ("admin", "user", "anonymous"),
    "create-c": ("admin", "user", "bot", "app"),
    "create-p": ("admin", "user", "bot", "app"),
    "create-d": ("admin", "user", "bot", "app", "livechat-agent"),
    "add-user-to-any-c-room": ("admin",),
    "add-user-to-any-p-room": ("admin",),
    "add-user-to-joined-room": ("admin", "owner", "moderator"),
    "remove-user": ("admin", "owner", "moderator"),
    "archive-room": ("admin", "owner"),
    "edit-room": ("admin", "owner", "moderator"),
    "edit-message": ("admin", "owner", "moderator"),
    "delete-message": ("admin", "owner", "moderator"),
    "delete-own-message": ("admin", "user"),
    "post-readonly": ("admin", "owner", "moderator"),
    "message-impersonate": ("bot", "app"),
    "send-many-messages": ("admin", "bot", "app"),
    "api-bypass-rate-limit": ("admin", "bot", "app"),
    "view-full-other-user-info": ("admin",),
    "view-joined-room": ("guest", "bot", "anonymous", "app"),
    "view-privileged-setting": ("admin",),
    "access-permissions": ("admin",),
    "edit-privileged-setting": ("admin",),
    "view-user-administration": ("admin",),
    "view-room-administration": ("admin",),
    "create-personal-access-tokens": ("admin", "user"),
    "mention-all": ("admin", "owner", "moderator", "user"),
    "mention-here": ("admin", "owner", "moderator", "user"),
    "leave-c": ("admin", "user", "bot", "anonymous", "app"),
    "leave-p": ("admin", "user", "bot", "anonymous", "app"),
    # omnichannel (§10)
    "view-l-room": (M, MO, A, ADM),
    "view-livechat-manager": (M, MO, ADM),
    "view-livechat-rooms": (M, MO, ADM),
    "view-livechat-queue": (M, MO, A, ADM),
    "close-livechat-room": (M, MO, A, ADM),
    "close-others-livechat-room": (M, MO, ADM),
    "transfer-livechat-guest": (M, MO, ADM),
    "on-hold-livechat-room": (M, MO, A, ADM),
    "on-hold-others-livechat-room": (M, MO, ADM),
    "save-others-livechat-room-info": (M, MO, ADM),
    "view-livechat-room-customfields": (M, MO, A, ADM),
    "edit-livechat-room-customfields": (M, MO, A, ADM),
    "view-livechat-room-closed-same-department": (M, MO, ADM),
    "view-livechat-room-closed-by-another-agent": (M, MO, ADM),
    "send-omnichannel-chat-transcript": (M, ADM),
    "request-pdf-transcript": (ADM, M, MO, A),
    "view-livechat-contact": (M, MO, A, ADM),
    "create-livechat-contact": (M, MO, A, ADM),
    "update-livechat-contact": (M, MO, A, ADM),
    "view-livechat-contact-history": (M, MO, A, ADM),
    "delete-livechat-contact": (M, ADM),
    "view-omnichannel-contact-center": (M, A, MO, ADM),
    "edit-omnichannel-contact": (M, A, ADM),
    "change-livechat-room-visitor": (ADM, M, A),
    "manage-livechat-agents": (M, MO, ADM),
    "manage-livechat-departments": (M, MO, ADM),
    "add-livechat-department-agents": (M, MO, ADM),
    "manage-livechat-managers": (M, ADM),
    "remove-closed-livechat-room": (M, MO, ADM),
    "remove-closed-livechat-rooms": (M, ADM),
    "view-livechat-analytics": (M, MO, ADM),
    "view-livechat-real-time-monitoring": (M, MO, ADM),
    "view-livechat-business-hours": (M, MO, ADM),
    "view-livechat-departments": (M, MO, ADM),
    "manage-livechat-units": (ADM, M),
    "manage-livechat-monitors": (ADM, M),
    "manage-livechat-tags": (ADM, M),
    "manage-livechat-priorities": (ADM, M),
    "manage-livechat-sla": (ADM, M),
    "view-livechat-reports": (ADM, M, MO),
    # canned responses (§9)
    "view-canned-responses": (A, MO, M, ADM),
    "view-all-canned-responses": (M, ADM),
    "view-agent-canned-responses": (A,),
    "save-canned-responses": (A, MO, M, ADM),
    "save-all-canned-responses": (M, ADM),
    "save-department-canned-responses": (MO,),
    "remove-canned-responses": (A, MO, M, ADM),
    "manage-livechat-canned-responses": (ADM, M, MO),
    # administration
    "create-user": (ADM,),
    "delete-user": (ADM,),
    "view-statistics": (ADM,),
    "remove-livechat-department": (M, ADM),
}

# role -> (scope, description)
ROLES: dict[str, tuple[str, str]] = {
    "admin": ("Users", "Admin"),
    "moderator": ("Subscriptions", "Moderator"),
    "leader": ("Subscriptions", "Leader"),
    "owner": ("Subscriptions", "Owner"),
    "user": ("Users", ""),
    "bot": ("Users", ""),
    "app": ("Users", ""),
    "guest": ("Users", ""),
    "anonymous": ("Users", ""),
    "livechat-agent": ("Users", "Livechat Agent"),
    "livechat-manager": ("Users", "Livechat Manager"),
    "livechat-monitor": ("Users", "Livechat Monitor"),
}

KNOWN_ROLES = {
    "user",
    "bot",
    "admin",
    "livechat-agent",
    "livechat-manager",
    "livechat-monitor",
    "app",
    "guest",
}


class SeedError(ValueError):
    pass


def load_seed(seed: dict | str | Path | None) -> dict[str, Any]:
    if seed is None:
        return {"users": [], "rooms": []}
    if isinstance(seed, dict):
        return seed
    data = yaml.safe_load(Path(seed).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SeedError(f"{seed}: the top level must be a mapping with 'users' and 'rooms'")
    return data


def apply_seed(state: State, seed: dict[str, Any]) -> None:
    from .livechat import Livechat

    lc = state.livechat or Livechat(state)
    for i, u in enumerate(seed.get("users") or []):
        if not isinstance(u, dict) or not u.get("username"):
            raise SeedError(f"users[{i}]: needs a username")
        roles = u.get("roles") or ["user"]
        unknown = set(roles) - KNOWN_ROLES
        if unknown:
            raise SeedError(f"users[{i}] ({u['username']}): unknown roles {sorted(unknown)}")
        uid = state.add_user(
            str(u["username"]),
            str(u.get("password", "pass")),
            name=u.get("name"),
            email=u.get("email"),
            roles=roles,
            utc_offset=u.get("utcOffset", 0),
            user_id=u.get("id"),
        )
        # Human agents start available (they would click it in the UI); bots set themselves
        # available through `livechat/agent.status`, as on a real server.
        default = "available" if "livechat-agent" in roles and "bot" not in roles else None
        status = u.get("statusLivechat", default)
        if status is not None:
            if status not in ("available", "not-available"):
                raise SeedError(f"users[{i}]: statusLivechat must be available or not-available")
            state.users[uid].status_livechat = status
    for i, r in enumerate(seed.get("rooms") or []):
        if not isinstance(r, dict) or not r.get("name"):
            raise SeedError(f"rooms[{i}]: needs a name")
        members = [str(m) for m in r.get("members") or []]
        owner = state.find_user(r.get("owner") or (members[0] if members else None))
        state.create_room(
            "p" if r.get("private") else "c",
            str(r["name"]),
            owner,
            members,
            read_only=bool(r.get("readOnly")),
            topic=r.get("topic"),
            rid="GENERAL" if r["name"] == "general" else r.get("id"),
        )
    _apply_omnichannel(state, lc, seed)


def _apply_omnichannel(state: State, lc: Any, seed: dict[str, Any]) -> None:
    """`settings`, `grants`, `revokes`, `departments`, `business_hours_closed` (see
    `config/devserver-seed.yaml`)."""
    settings = seed.get("settings") or {}
    if not isinstance(settings, dict):
        raise SeedError("settings: must map setting ids to values")
    for key, value in settings.items():
        state.settings[str(key)] = value
    for section, add in (("grants", True), ("revokes", False)):
        table = seed.get(section) or {}
        if not isinstance(table, dict):
            raise SeedError(f"{section}: must map permission ids to lists of roles")
        for perm, roles in table.items():
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise SeedError(f"{section}.{perm}: must be a list of role names")
            for role in roles:
                (state.grant if add else state.revoke)(str(perm), role)
    for i, d in enumerate(seed.get("departments") or []):
        if not isinstance(d, dict) or not d.get("name"):
            raise SeedError(f"departments[{i}]: needs a name")
        agents = d.get("agents") or []
        if not isinstance(agents, list):
            raise SeedError(f"departments[{i}]: agents must be a list of usernames")
        try:
            lc.add_department(
                str(d.get("id") or d["name"]),
                str(d["name"]),
                [str(a) for a in agents],
                enabled=bool(d.get("enabled", True)),
                request_tags=bool(d.get("requestTagBeforeClosingChat", False)),
                closing_tags=[str(t) for t in d.get("chatClosingTags") or []],
            )
        except ValueError as e:
            raise SeedError(f"departments[{i}]: {e}") from None
    if seed.get("business_hours_closed"):
        lc.set_business_hours_open(False)
