"""REST `rooms.*`: info, get, leave, and the two-step media upload (RC `v1/rooms.ts`)."""

from __future__ import annotations

from .. import dates
from ..model import MeteorError, random_id
from .http import Req, Routes, failure, not_found
from .lookups import any_room, file_message

routes = Routes()


@routes.route("GET", "rooms.info")
def rooms_info(req: Req) -> dict:
    rid = req.str("roomId")
    room = req.st.room(rid) if rid else req.st.room_by_name(req.str("roomName"))
    if room is None or not req.st.can_access(req.user, room):
        raise failure("not-allowed")
    return {"room": room}


@routes.route("GET", "rooms.get")
def rooms_get(req: Req) -> dict:
    rooms = [req.st.rooms[rid] for (rid, uid) in req.st.subs if uid == req.user.id]
    return {"update": rooms, "remove": []}


@routes.route("POST", "rooms.leave")
def rooms_leave(req: Req) -> dict:
    room = any_room(req, req.str("roomId", required=True))
    req.st.remove_member(room, req.user, None, "ul")
    return {}


@routes.route("POST", "rooms.media/:rid")
def rooms_media(req: Req) -> dict:
    rid = req.path["rid"]
    room = any_room(req, rid)
    up = req.form_files.get("file")
    if not up:
        raise MeteorError("invalid-field", "File required")
    fid = random_id()
    req.st.files[fid] = {
        "_id": fid,
        "name": up["name"] or "file",
        "type": up["type"] or "application/octet-stream",
        "size": len(up["data"]),
        "rid": room["_id"],
        "userId": req.user.id,
        "uploadedAt": dates.now(),
        "url": f"/file-upload/{fid}/{up['name'] or 'file'}",
        "complete": False,
        "data": up["data"],
    }
    return {"file": {"_id": fid, "url": req.st.files[fid]["url"]}}


@routes.route("POST", "rooms.mediaConfirm/:rid/:fileId")
def rooms_media_confirm(req: Req) -> dict:
    room = any_room(req, req.path["rid"])
    f = req.st.files.get(req.path["fileId"])
    if f is None or f["rid"] != room["_id"] or f["userId"] != req.user.id:
        raise MeteorError("error-file-not-found", "File not found")
    if f.get("complete"):
        raise MeteorError("error-file-already-confirmed", "File already confirmed")
    if req.str("fileName"):
        f["name"] = req.str("fileName")
        f["url"] = f"/file-upload/{f['_id']}/{f['name']}"
    f["complete"] = True
    return {"message": file_message(req, room, f)}


@routes.route("POST", "rooms.upload/:rid")
def rooms_upload(req: Req) -> dict:
    if req.srv.rc_major >= 8:  # removed in 8.0.0 (deprecated since 6.10)
        raise not_found()
    media = rooms_media(req)
    f = req.st.files[media["file"]["_id"]]
    f["complete"] = True
    return {"message": file_message(req, req.st.rooms[f["rid"]], f)}
