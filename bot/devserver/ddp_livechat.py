"""DDP of the livechat widget: `livechat:setUpConnection` ties a socket to a visitor token
(RC `apps/meteor/app/livechat/server/methods/setUpConnection.ts`); when that socket closes the
visitor goes offline, as RC's `connection.onClose` does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ddp_methods import MatchFailed

if TYPE_CHECKING:
    from .ddp import Hub, Session


def set_up_connection(hub: Hub, s: Session, params: list) -> None:
    data = params[0] if params else None
    if not isinstance(data, dict) or not isinstance(data.get("token"), str) or len(data) != 1:
        raise MatchFailed()
    if s.livechat_token is None:
        s.livechat_token = data["token"]


def connection_closed(hub: Hub, s: Session) -> None:
    visitor = hub.state.livechat.visitor_by_token(s.livechat_token)
    if visitor is not None:
        hub.state.livechat.set_visitor_status(visitor, "offline")


METHODS = {"livechat:setUpConnection": set_up_connection}
