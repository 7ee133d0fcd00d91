"""The real livechat widget at `/livechat`, from a build the user provides (`--widget DIR`).

`DIR` is the `build/` folder of the npm package `@rocket.chat/livechat`. Rocket.Chat serves its
`index.html` at `/livechat` with the server's URL put in front of the bundle, as
`<body><script> SERVER_URL = '<root url>'; </script>` (RC `app/livechat/server/livechat.ts`,
`addServerUrlToIndex`), and the bundle's files under `/livechat/<file>`. The root URL here is
the origin the browser used, so the widget works on whatever host and port the server has.
"""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path

from aiohttp import web


class WidgetError(ValueError):
    pass


class Widget:
    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory).resolve()
        index = self.dir / "index.html"
        if not index.is_file():
            raise WidgetError(
                f"{self.dir} has no index.html: give the build/ folder of @rocket.chat/livechat"
            )
        self.index = index.read_text(encoding="utf-8")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/livechat", self.page)
        app.router.add_get("/livechat/", self.page)
        app.router.add_get("/livechat/{file:.+}", self.asset)

    async def page(self, request: web.Request) -> web.Response:
        root = f"{request.scheme}://{request.host}"
        html = self.index.replace(
            "<body>", f"<body><script> SERVER_URL = {json.dumps(root)}; </script>", 1
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    async def asset(self, request: web.Request) -> web.StreamResponse:
        path = (self.dir / request.match_info["file"]).resolve()
        if not path.is_relative_to(self.dir) or not path.is_file():
            raise web.HTTPNotFound()
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return web.FileResponse(path, headers={"Content-Type": ctype})
