"""The dev server's REST API, one module per Rocket.Chat API area; `http.py` is the one
request and error layer they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import (
    auth,
    chat,
    dev,
    livechat_config,
    livechat_departments,
    livechat_rooms,
    livechat_visitor,
    livechat_widget,
    methods,
    permissions,
    rooms,
    rooms_by_type,
    settings,
    subscriptions,
    users,
)
from .http import Rest

if TYPE_CHECKING:
    from ..server import DevServer

AREAS = [
    auth,
    users,
    rooms_by_type,
    chat,
    rooms,
    subscriptions,
    permissions,
    settings,
    methods,
    livechat_visitor,
    livechat_widget,
    livechat_config,
    livechat_rooms,
    livechat_config,
    livechat_departments,
    dev,
]


def build(server: DevServer) -> Rest:
    return Rest(server, [area.routes for area in AREAS])
