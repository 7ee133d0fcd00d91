"""REST the livechat widget calls besides chatting: the visitor record by token, presence,
custom fields, page visits, the transcript and the offline form, one message by id
(RC `apps/meteor/app/livechat/server/api/v1/{visitor,customField,pageVisited,transcript,
offlineMessage,message}.ts`).

The dev server sends no e-mail: a transcript or an offline message lands in the omnichannel
state's outbox (`Livechat.outbox`), where tests read it.
"""

from __future__ import annotations

from typing import Any

from .. import dates
from ..livechat_model import LivechatError
from ..model import MeteorError
from .http import Req, Routes, failure, invalid
from .livechat_visitor import guest
from .params import string_param

routes = Routes()


@routes.get("livechat/visitor/:token", auth=False)
def visitor_get(req: Req) -> dict:
    found = req.lc.visitor_by_token(req.path["token"])
    if found is None:
        raise MeteorError("invalid-token", "")
    return {"visitor": found.doc()}


@routes.route("DELETE", "livechat/visitor/:token", auth=False)
def visitor_delete(req: Req) -> dict:
    token = req.path["token"]
    found = req.lc.visitor_by_token(token)
    if found is None:
        raise MeteorError("invalid-token", "")
    gdpr = req.st.settings.get("Livechat_Allow_collect_and_store_HTTP_header_informations")
    if req.lc.open_room_of(token) is not None and not gdpr:
        raise MeteorError("visitor-has-open-rooms", "Cannot remove visitors with opened rooms")
    req.lc.remove_visitor(found)
    return {"visitor": {"_id": found.id, "ts": dates.now()}}


@routes.post("livechat/visitor.status", auth=False)
def visitor_status(req: Req) -> dict:
    token = string_param(req, "token", required=True)
    status = string_param(req, "status", required=True)
    req.lc.set_visitor_status(guest(req, token), status)
    return {"token": token, "status": status}


def _field(item: Any, where: str) -> tuple[str, str, bool]:
    if not (
        isinstance(item, dict)
        and isinstance(item.get("key"), str)
        and isinstance(item.get("value"), str)
        and isinstance(item.get("overwrite"), bool)
    ):
        raise invalid(f"{where} must have required properties 'key', 'value', 'overwrite'")
    return item["key"], item["value"], item["overwrite"]


@routes.post("livechat/custom.field", auth=False)
def custom_field(req: Req) -> dict:
    token = string_param(req, "token", required=True)
    key, value, overwrite = _field(req.params, "body")
    req.lc.set_custom_field(guest(req, token), key, value, overwrite)
    return {"field": {"key": key, "value": value, "overwrite": overwrite}}


@routes.post("livechat/custom.fields", auth=False)
def custom_fields(req: Req) -> dict:
    token = string_param(req, "token", required=True)
    items = req.params.get("customFields")
    if not isinstance(items, list):
        raise invalid("must have required property 'customFields'")
    fields = [_field(item, "customFields items") for item in items]
    visitor = guest(req, token)
    for key, value, overwrite in fields:
        req.lc.set_custom_field(visitor, key, value, overwrite)
    # RC answers with a capital `Key` here (setMultipleCustomFields' result, mapped as is).
    return {"fields": [{"Key": k, "value": v, "overwrite": o} for k, v, o in fields]}


@routes.post("livechat/page.visited", auth=False)
def page_visited(req: Req) -> dict:
    token = string_param(req, "token", required=True)
    rid = string_param(req, "rid")
    info = req.params.get("pageInfo")
    if not isinstance(info, dict):
        raise invalid("must have required property 'pageInfo'")
    # RC's savePageHistory keeps a page only as a room message, and only when the admin asked
    # for navigation as messages and the change is the monitored kind.
    if not rid or not req.st.settings.get("Livechat_Visitor_navigation_as_a_message"):
        return {}
    if info.get("change") != req.st.settings.get("Livechat_history_monitor_type"):
        return {}
    visitor, room = req.lc.visitor_by_token(token), req.st.room(rid)
    if visitor is None or room is None or room["t"] != "l" or room["v"]["token"] != token:
        return {}
    href = (info.get("location") or {}).get("href", "") if isinstance(info, dict) else ""
    msg = f"{info.get('title', '')} - {href}"
    navigation = {"page": info, "token": token}
    req.st.system_message(room, visitor, "livechat_navigation_history", msg, navigation=navigation)
    return {"page": {"msg": msg, "navigation": navigation}}


@routes.post("livechat/transcript", auth=False)
def transcript(req: Req) -> dict:
    token = string_param(req, "token", required=True)
    rid = string_param(req, "rid", required=True)
    email = string_param(req, "email", required=True)
    visitor = req.lc.visitor_by_token(token)
    room = req.st.room(rid)
    # RC's sendTranscript answers any failure with this one text.
    if visitor is None or room is None or room["t"] != "l" or room["v"]["token"] != token:
        raise failure("Error sending livechat transcript")
    req.lc.outbox.append({"kind": "transcript", "rid": rid, "email": email, "token": token})
    req.st.system_message(
        room,
        visitor,
        "livechat_transcript_history",
        "",
        requestData={"type": "visitor", "visitor": visitor.ref, "email": email},
    )
    return {"message": "Livechat transcript sent"}


@routes.post("livechat/offline.message", auth=False)
def offline_message(req: Req) -> dict:
    name = string_param(req, "name", required=True)
    email = string_param(req, "email", required=True)
    message = string_param(req, "message", required=True)
    department = string_param(req, "department")
    if not req.st.settings.get("Livechat_display_offline_form"):
        raise failure("Error sending livechat offline message")
    req.lc.outbox.append(
        {
            "kind": "offline",
            "name": name,
            "email": email,
            "message": message,
            "department": department,
        }
    )
    return {"message": "Livechat offline message sent"}


@routes.get("livechat/message/:_id", auth=False)
def message_get(req: Req) -> dict:
    token = string_param(req, "token", required=True)
    rid = string_param(req, "rid", required=True)
    guest(req, token)
    room = req.lc.room_of(token, rid)
    if room is None:
        raise LivechatError("invalid-room")
    msg = req.st.find_message(req.path["_id"])
    if msg is None or msg["rid"] != room["_id"]:
        raise LivechatError("invalid-message")
    return {"message": msg}
