"""Outside `/api/v1`: file downloads (`/file-upload/:id/:name`) and `GET /api/info`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .http import Rest


async def download(rest: Rest, request: web.Request) -> web.StreamResponse:
    user = rest.authenticate(request, cookies=True)
    f = rest.state.files.get(request.match_info["fid"])
    if f is None:
        return web.Response(status=404)
    # RC's FileUpload.requestCanAccessFiles: no valid token or no room access is a bare 403.
    if user is None or not rest.state.can_access(user, rest.state.room(f["rid"])):
        return web.Response(status=403)
    rest.srv.record("rest", "file-upload", user, {"fileId": f["_id"]}, 200)
    return web.Response(
        body=f["data"],
        content_type=f["type"],
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{f['name']}",
            "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
        },
    )


async def info(rest: Rest, request: web.Request) -> web.Response:
    return web.json_response({"version": rest.srv.rc_version_full, "success": True})
