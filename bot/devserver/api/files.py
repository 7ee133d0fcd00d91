"""Outside `/api/v1`: file downloads (`/file-upload/:id/:name`) and `GET /api/info`."""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING

from aiohttp import web

from .http import json_response

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
    return json_response({"version": rest.srv.rc_version_full, "success": True})


#: RC's avatar palette (`apps/meteor/server/lib/getAvatarColor.ts` picks one by name)
AVATAR_COLORS = (
    "#F44336",
    "#E91E63",
    "#9C27B0",
    "#673AB7",
    "#3F51B5",
    "#2196F3",
    "#03A9F4",
    "#00BCD4",
    "#009688",
    "#4CAF50",
    "#8BC34A",
    "#CDDC39",
    "#FFC107",
    "#FF9800",
    "#FF5722",
    "#795548",
    "#9E9E9E",
    "#607D8B",
)


async def avatar(rest: Rest, request: web.Request) -> web.Response:
    """`/avatar/:username`: with no uploaded image RC draws the name's initial as an SVG, for
    any name (a visitor's too), so a client never gets a broken image."""
    name = request.match_info["name"].split("?")[0] or "?"
    initial = html.escape(name.lstrip("@")[:1].upper() or "?")
    color = AVATAR_COLORS[sum(map(ord, name)) % len(AVATAR_COLORS)]
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 200" width="200" height="200">'
        f'<rect width="100%" height="100%" fill="{color}"/>'
        '<text x="50%" y="50%" dy="0.36em" text-anchor="middle" pointer-events="none" '
        'fill="#ffffff" font-family="Helvetica, Arial, sans-serif" font-size="120">'
        f"{initial}</text></svg>"
    )
    return web.Response(
        text=svg, content_type="image/svg+xml", headers={"Cache-Control": "public, max-age=0"}
    )
