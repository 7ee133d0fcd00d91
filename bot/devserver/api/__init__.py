"""The dev server's REST API, one module per Rocket.Chat API area; `http.py` is the one
request and error layer they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import (
    auth,
    chat,
    dev,
    livechat_admin,
    livechat_config,
    livechat_departments,
    livechat_inquiries,
    livechat_rooms,
    livechat_survey,
    livechat_visitor,
    livechat_visitors,
    livechat_widget,
    methods,
    permissions,
    room_lists,
    rooms,
    rooms_by_type,
    settings,
    statistics,
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
    room_lists,
    chat,
    rooms,
    subscriptions,
    permissions,
    settings,
    statistics,
    methods,
    livechat_visitor,
    livechat_widget,
    livechat_config,
    livechat_survey,
    livechat_rooms,
    livechat_departments,
    livechat_admin,
    livechat_inquiries,
    livechat_visitors,
    dev,
]


def build(server: DevServer) -> Rest:
    return Rest(server, [area.routes for area in AREAS])
