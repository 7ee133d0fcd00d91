"""Canned responses: the YAML ones and those created in chat, as one catalog (rules §9).

Scopes: `global` (everyone), `department` (that department's agents), `user` (the creator).
Shortcuts are unique across every scope and both sources. Who may see which follows
Rocket.Chat's `findAllCannedResponses`; who may save which follows `saveCannedResponse`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.domain import placeholders
from bot.domain.errors import Refused
from bot.domain.permissions import Permissions, Viewer
from bot.domain.text import did_you_mean
from bot.store.canned import CannedRepo

GLOBAL, DEPARTMENT, USER = "global", "department", "user"
SCOPES = (GLOBAL, DEPARTMENT, USER)
CONFIG, CHAT = "config", "chat"

_SHORTCUT = re.compile(r"^[\w.-]{1,64}$")
#: Rocket.Chat's default Message_MaxAllowedSize is 5000; leave room for the extra words
MAX_TEXT = 4000
#: `!shortcut` (and the rest of the line) at the start of a message
TRIGGER = re.compile(r"^!([\w.-]+)(?:\s+(.*))?$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class CannedResponse:
    shortcut: str  # lowercase, no "!"
    text: str
    scope: str = GLOBAL
    department: str | None = None
    owner: str | None = None
    source: str = CHAT

    @property
    def first_line(self) -> str:
        return next((ln.strip() for ln in self.text.splitlines() if ln.strip()), "")


def normalize_shortcut(word: str) -> str:
    """`!Greeting` → `greeting`; raises `Refused` for anything that is not a shortcut word."""
    name = word[1:] if word.startswith("!") else word
    if not _SHORTCUT.match(name):
        raise Refused(
            f"'{word}' is not a shortcut: use letters, digits, '.', '_' or '-', e.g. !greeting.",
            "error-invalid-shortcut",
        )
    return name.lower()


def parse_scope(text: str | None, departments: Iterable[str]) -> tuple[str, str | None]:
    """`global`, `user`, `department:<name>` → (scope, department)."""
    if text is None or text.lower() == GLOBAL:
        return GLOBAL, None
    if text.lower() in (USER, "private"):
        return USER, None
    kind, _, name = text.partition(":")
    if kind.lower() != DEPARTMENT:
        raise Refused(
            f"Unknown scope '{text}': use global, department:<name> or user.", "error-invalid-scope"
        )
    known = list(departments)
    for dept in known:
        if dept.lower() == name.lower():
            return DEPARTMENT, dept
    close = did_you_mean(name, known)
    hint = f" Did you mean department:{close[0]}?" if close else ""
    raise Refused(f"Unknown department '{name}'.{hint}", "error-invalid-department")


def from_config(items: Iterable[Any]) -> list[CannedResponse]:
    """`canned:` from YAML (`shortcut`, `text`, `scope` global | department:<name>)."""
    out = []
    for item in items:
        scope, _, dept = str(item.scope).partition(":")
        out.append(
            CannedResponse(
                shortcut=str(item.shortcut).lstrip("!").lower(),
                text=str(item.text),
                scope=DEPARTMENT if scope == DEPARTMENT else GLOBAL,
                department=dept or None,
                source=CONFIG,
            )
        )
    return out


# --- who may see and save ------------------------------------------------------------------
def can_view(response: CannedResponse, viewer: Viewer, perms: Permissions) -> bool:
    """Rules §9 visibility: own, departments the user belongs to (all with
    view-all-canned-responses), and global ones."""
    if response.scope == GLOBAL:
        return True
    if response.scope == USER:
        return response.owner == viewer.username
    if perms.has(viewer.roles, "view-all-canned-responses"):
        return True
    return response.department in viewer.departments


def ensure_may_save(
    scope: str, viewer: Viewer, perms: Permissions, department: str | None = None
) -> None:
    """Rules §9 save permissions (the same for create and edit). Without
    save-all-canned-responses, a department's responses are for its own members to save
    (Rocket.Chat limits monitors to their units' departments the same way)."""
    roles = viewer.roles
    if not perms.has(roles, "save-canned-responses"):
        raise Refused("You don't have permission to save canned responses.", "error-not-allowed")
    if scope == GLOBAL and not perms.has(roles, "save-all-canned-responses"):
        raise Refused(
            "Only managers (save-all-canned-responses) may save global canned responses; "
            "use scope=user or scope=department:<name>.",
            "error-not-allowed",
        )
    if scope == DEPARTMENT and not (
        perms.has(roles, "save-all-canned-responses")
        or perms.has(roles, "save-department-canned-responses")
    ):
        raise Refused(
            "You don't have permission to save department canned responses; use scope=user.",
            "error-not-allowed",
        )
    if (
        scope == DEPARTMENT
        and department is not None
        and department not in viewer.departments
        and not perms.has(roles, "save-all-canned-responses")
    ):
        raise Refused(
            f"You can save canned responses only for your own departments, not {department}.",
            "error-not-allowed",
        )


def _check_text(text: str) -> None:
    if not text.strip():
        raise Refused("The canned response needs a text.", "error-invalid-text")
    if len(text) > MAX_TEXT:
        raise Refused(
            f"The canned response is longer than {MAX_TEXT} characters.", "error-invalid-text"
        )
    wrong = placeholders.unknown(text)
    if wrong:
        known = ", ".join(f"{{{{{name}}}}}" for name in placeholders.PLACEHOLDERS)
        raise Refused(
            f"Unknown placeholder {wrong[0]}; the known ones are {known}.", "error-invalid-text"
        )


def _may_touch(response: CannedResponse, viewer: Viewer, perms: Permissions) -> bool:
    """Edit/remove an existing one: your own, or any you could have saved in its scope."""
    if response.scope == USER:
        return response.owner == viewer.username or perms.has(
            viewer.roles, "view-all-canned-responses"
        )
    try:
        ensure_may_save(response.scope, viewer, perms, response.department)
    except Refused:
        return False
    return True


# --- the store -----------------------------------------------------------------------------
def _row_to(r: Any) -> CannedResponse:
    return CannedResponse(
        shortcut=r.shortcut,
        text=r.text,
        scope=r.scope,
        department=r.department,
        owner=r.owner,
        source=CHAT,
    )


class CannedCatalog:
    """YAML + chat-created canned responses. Cheap to make per command."""

    def __init__(self, store: Any, config: Any = None) -> None:
        self.store = store
        self.config_items = from_config(getattr(config, "canned", ()) or ())

    # reads
    def stored(self) -> list[CannedResponse]:
        return [_row_to(r) for r in CannedRepo(self.store).rows()]

    def all(self) -> list[CannedResponse]:
        # A YAML entry wins if chat created the same shortcut before the admin added it.
        found = {c.shortcut: c for c in self.stored()}
        found.update({c.shortcut: c for c in self.config_items})
        return sorted(found.values(), key=lambda c: c.shortcut)

    def get(self, shortcut: str) -> CannedResponse | None:
        key = shortcut.lstrip("!").lower()
        return next((c for c in self.all() if c.shortcut == key), None)

    def visible(self, viewer: Viewer, perms: Permissions) -> list[CannedResponse]:
        return [c for c in self.all() if can_view(c, viewer, perms)]

    def closest(self, shortcut: str, viewer: Viewer, perms: Permissions, n: int = 3) -> list[str]:
        names = [c.shortcut for c in self.visible(viewer, perms)]
        key = shortcut.lower()
        close = did_you_mean(key, names, n=n, cutoff=0.5)
        # prefixes and substrings help where edit distance does not (!ref → !refund-policy)
        extra = [s for s in names if (key in s or s in key) and s not in close]
        return (close + extra)[:n]

    # writes
    def add(
        self,
        shortcut: str,
        text: str,
        *,
        scope: str,
        department: str | None,
        viewer: Viewer,
        perms: Permissions,
        at: datetime | None = None,
    ) -> CannedResponse:
        key = normalize_shortcut(shortcut)
        ensure_may_save(scope, viewer, perms, department)
        _check_text(text)
        if self.get(key) is not None:
            raise Refused(
                f"The shortcut !{key} already exists; pick another one or /canned edit it.",
                "error-invalid-shortcut",
            )
        now = at or datetime.now(UTC)
        added = CannedRepo(self.store).insert(
            shortcut=key,
            text=text,
            scope=scope,
            department=department if scope == DEPARTMENT else None,
            owner=viewer.username,
            at=now,
        )
        if not added:
            raise Refused(f"The shortcut !{key} already exists.", "error-invalid-shortcut")
        found = self.get(key)
        assert found is not None
        return found

    def _editable(self, shortcut: str, viewer: Viewer, perms: Permissions) -> CannedResponse:
        key = normalize_shortcut(shortcut)
        found = self.get(key)
        if found is None or not can_view(found, viewer, perms):
            raise Refused(f"There is no canned response !{key}.", "error-not-found")
        if found.source == CONFIG:
            raise Refused(
                f"!{key} is defined in the configuration file; ask an admin to change it there.",
                "error-not-allowed",
            )
        return found

    def edit(
        self,
        shortcut: str,
        *,
        viewer: Viewer,
        perms: Permissions,
        text: str | None = None,
        scope: str | None = None,
        department: str | None = None,
        at: datetime | None = None,
    ) -> CannedResponse:
        found = self._editable(shortcut, viewer, perms)
        if not _may_touch(found, viewer, perms):
            raise Refused(f"You may not edit !{found.shortcut}.", "error-not-allowed")
        values: dict[str, Any] = {
            "updated_at": at or datetime.now(UTC),
            "updated_by": viewer.username,
        }
        if scope is not None:
            ensure_may_save(scope, viewer, perms, department)
            values["scope"] = scope
            values["department"] = department if scope == DEPARTMENT else None
        if text is not None:
            _check_text(text)
            values["text"] = text
        CannedRepo(self.store).update(found.shortcut, values)
        updated = self.get(found.shortcut)
        assert updated is not None
        return updated

    def remove(self, shortcut: str, *, viewer: Viewer, perms: Permissions) -> CannedResponse:
        if not perms.has(viewer.roles, "remove-canned-responses"):
            raise Refused(
                "You don't have permission to remove canned responses.", "error-not-allowed"
            )
        found = self._editable(shortcut, viewer, perms)
        if not _may_touch(found, viewer, perms):
            raise Refused(f"You may not remove !{found.shortcut}.", "error-not-allowed")
        CannedRepo(self.store).delete(found.shortcut)
        return found
