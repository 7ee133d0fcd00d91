"""`--state FILE`: the dev server's data kept between runs (a dev convenience; the file is a
trusted local pickle, never read from elsewhere)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .livechat import Livechat
    from .state import State


def save_state(st: State, livechat: Livechat, path: Path) -> None:
    with st.lock:
        for u in st.users.values():
            u.connections, u.status = 0, "offline"
        data = {
            "users": st.users,
            "rooms": st.rooms,
            "subs": st.subs,
            "messages": st.messages,
            "files": st.files,
            "settings": st.settings,
            "permissions": st.permissions,
            "livechat": {
                k: getattr(livechat, k)
                for k in (
                    "visitors",
                    "departments",
                    "department_agents",
                    "inquiries",
                    "chat_counts",
                    "business_hours_open",
                )
            },
        }
        path.write_bytes(pickle.dumps(data))


def load_state(st: State, livechat: Livechat, path: Path) -> None:
    data = pickle.loads(path.read_bytes())
    st.users, st.rooms, st.subs, st.messages, st.files = (
        data["users"],
        data["rooms"],
        data["subs"],
        data["messages"],
        data["files"],
    )
    st.settings.update(data.get("settings", {}))
    st.permissions.update(data.get("permissions", {}))
    for key, value in data.get("livechat", {}).items():
        setattr(livechat, key, value)
