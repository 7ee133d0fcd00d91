"""`/healthz` and `/metrics` over stdlib `http.server` in a background thread.

Kept off the bot's event path and free of frameworks: a scrape or an orchestrator's health probe
must work even when the bot's own threads are busy or stuck.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Health = Callable[[], tuple[bool, str]]
#: more fields for `/healthz`'s JSON, e.g. `{"role": "standby", "epoch": 3}` (high availability)
Details = Callable[[], dict[str, Any]]


class OpsServer:
    """Serves `/healthz` (200/503 with a JSON reason, plus `details()`) and `/metrics`
    (Prometheus text)."""

    def __init__(
        self,
        listen: str | tuple[str, int],
        health: Health,
        registry: CollectorRegistry,
        details: Details | None = None,
    ) -> None:
        if isinstance(listen, str):
            host, _, port = listen.rpartition(":")
            listen = (host.strip("[]"), int(port))
        self._httpd = ThreadingHTTPServer(listen, _handler(health, registry, details))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port): with port 0 the OS picked a free one."""
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> OpsServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="omnicat-ops", daemon=True
        )
        self._thread.start()
        log.info("health and metrics on http://%s:%d/", *self.address)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> OpsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler(
    health: Health, registry: CollectorRegistry, details: Details | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "omnicat-ops"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                try:
                    ok, reason = health()
                except Exception as exc:  # a broken probe is unhealthy, not a crash
                    ok, reason = False, f"health check failed: {exc.__class__.__name__}"
                extra: dict[str, Any] = {}
                if details is not None:
                    try:
                        extra = dict(details())
                    except Exception as exc:
                        extra = {"details_error": exc.__class__.__name__}
                body = json.dumps({"ok": ok, "reason": reason, **extra}).encode()
                self._send(200 if ok else 503, "application/json", body)
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            else:
                self._send(404, "application/json", b'{"error": "not found"}')

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("ops %s", format % args)

    return Handler
