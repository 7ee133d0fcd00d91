"""DDP subscriptions to RC's streams: who may read which event (RC `server/modules/streamer`,
`app/notifications/server/lib/Notifications.ts`, the livechat room access validator)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import MeteorError

if TYPE_CHECKING:
    from .ddp import Hub, Session


@dataclass
class Sub:
    id: str
    name: str
    event: str
    visitor_token: str | None = None  # a livechat widget reading its room without an account


ALWAYS_READY = {
    "meteor.loginServiceConfiguration",
    "meteor_autoupdate_clientVersions",
    "activeUsers",
    "userData",
}


def on_sub(hub: Hub, s: Session, msg: dict) -> None:
    sid, name, params = msg.get("id"), msg.get("name"), msg.get("params", [])
    if not isinstance(sid, str) or not isinstance(name, str) or not isinstance(params, list):
        hub._error(s, "Malformed subscription", msg)
        return
    if name in ALWAYS_READY:
        s.send({"msg": "ready", "subs": [sid]})
        return
    if not name.startswith("stream-") or name not in (
        "stream-room-messages",
        "stream-notify-user",
        "stream-notify-logged",
        "stream-notify-room",
        "stream-livechat-room",
    ):
        s.send(
            {
                "msg": "nosub",
                "id": sid,
                "error": MeteorError(404, f"Subscription '{name}' not found").ddp(),
            }
        )
        return
    event = params[0] if params else None
    options = params[1] if len(params) > 1 else False
    if not isinstance(event, str) or not event:
        s.send(
            {
                "msg": "nosub",
                "id": sid,
                "error": MeteorError("invalid-event-name", "Invalid event name").ddp(),
            }
        )
        return
    token = None
    if isinstance(options, dict) and isinstance(options.get("args"), list):
        first = options["args"][0] if options["args"] else None
        if isinstance(first, dict):
            token = first.get("visitorToken") or first.get("token")
    token = token if isinstance(token, str) and token else s.livechat_token
    if not can_read(hub, s, name, event, token):
        s.send(
            {
                "msg": "nosub",
                "id": sid,
                "error": MeteorError("not-allowed", "Not allowed").ddp(),
            }
        )
        return
    s.subs[sid] = Sub(sid, name, event, token if s.user is None else None)
    if options is True or (isinstance(options, dict) and options.get("useCollection") is True):
        s.send({"msg": "added", "collection": name, "id": "id", "fields": {"eventName": event}})
    s.send({"msg": "ready", "subs": [sid]})


def can_read(hub: Hub, s: Session, name: str, event: str, token: str | None = None) -> bool:
    user, st = s.user, hub.state
    if user is None:
        # A livechat visitor has no account: its token (from the subscription's args or from
        # `livechat:setUpConnection`) opens its own room's messages, typing, deletions and
        # omnichannel changes (RC's livechat roomAccessValidator and stream permissions).
        rid, _, sub_event = event.partition("/")
        room = st.room(rid)
        if not token or room is None or room["t"] != "l" or room["v"]["token"] != token:
            return False
        return (
            (name == "stream-room-messages" and not sub_event)
            or (name == "stream-livechat-room" and not sub_event)
            or (name == "stream-notify-room" and sub_event in ("typing", "deleteMessage"))
        )
    if name == "stream-room-messages":
        if event == "__my_messages__":
            return True
        return st.can_access(user, st.room(event))
    if name == "stream-livechat-room":
        return st.can_access(user, st.room(event))
    if name == "stream-notify-user":
        return event.split("/", 1)[0] == user.id
    if name == "stream-notify-room":
        return st.can_access(user, st.room(event.split("/", 1)[0]))
    return True
