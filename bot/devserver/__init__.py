"""A Rocket.Chat-compatible dev server: REST `/api/v1/*` and DDP `/websocket` on one port."""

from .server import Call, DevServer, serve

__all__ = ["Call", "DevServer", "serve"]
