"""Livechat visitors: find by token, register (RC's registerGuest), presence, custom fields,
removal; a mixin of `Livechat` (livechat.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import dates
from .livechat_model import LivechatError, Visitor
from .model import random_id

if TYPE_CHECKING:
    from .livechat import Livechat

    _Base = Livechat
else:
    _Base = object


class VisitorOps(_Base):
    def visitor_by_token(self, token: Any) -> Visitor | None:
        if not isinstance(token, str) or not token:
            return None
        with self.state.lock:
            for v in self.visitors.values():
                if v.token == token:
                    return v
        return None

    def register_visitor(
        self,
        token: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        department: str | None = None,
        username: str | None = None,
        custom: dict[str, str] | None = None,
    ) -> Visitor:
        """RC's registerGuest: create, or update the visitor holding this token."""
        if not token:
            raise LivechatError("error-invalid-token")
        st = self.state
        with st.lock:
            dep = self.department(department) if department else None
            visitor = self.visitor_by_token(token)
            if visitor is None:
                count = int(st.settings.get("Livechat_guest_count") or 1)
                st.settings["Livechat_guest_count"] = count + 1
                visitor = Visitor(random_id(), token, username or f"guest-{count}")
                self.visitors[visitor.id] = visitor
            if name is not None:
                visitor.name = name
            if email is not None:
                visitor.email = email.strip().lower()
            if phone is not None:
                visitor.phone = phone
            if dep is not None:
                visitor.department = dep["_id"]
            if custom:
                visitor.custom.update(custom)
            visitor.updated = dates.now()
            return visitor

    def set_visitor_status(self, visitor: Visitor, status: str) -> None:
        """RC's notifyGuestStatusChanged: the visitor and its open rooms' `v.status`."""
        with self.state.lock:
            visitor.status = status
            visitor.updated = dates.now()
            for room in list(self.state.rooms.values()):
                if room["t"] == "l" and room.get("open") and room["v"]["token"] == visitor.token:
                    self.state.update_room(room, v={**room["v"], "status": status})

    def set_custom_field(self, visitor: Visitor, key: str, value: str, overwrite: bool) -> None:
        """A visitor-scope custom field (`livechatData`); without `overwrite` a set value stays."""
        with self.state.lock:
            if overwrite or key not in visitor.custom:
                visitor.custom[key] = value
                visitor.updated = dates.now()

    def remove_visitor(self, visitor: Visitor) -> None:
        with self.state.lock:
            self.visitors.pop(visitor.id, None)
