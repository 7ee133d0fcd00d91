"""`DevServer`: the Rocket.Chat-compatible server on one port, embeddable in tests.

It runs its own asyncio loop in a daemon thread, so blocking test code and the thread-based bot
can talk to it over real sockets. The Python methods below are test hooks; the same hooks exist as
admin-only `/api/v1/dev.*` routes for out-of-process use.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from . import contracts
from .api import build as build_api
from .api import files as api_files
from .ddp import Hub
from .livechat import Livechat
from .persistence import load_state, save_state
from .ratelimit import RateLimits
from .seed import apply_seed, load_seed
from .state import State, User, wire
from .widget import Widget

#: what `GET /api/info` reports unless `--rc-version` says otherwise: a released 8.x
DEFAULT_RC_VERSION = "8.5.0"


@dataclass
class Call:
    kind: str  # "rest" | "ddp"
    name: str  # "groups.invite" | "sendMessage"
    user: str | None  # username
    params: dict | list
    status: int | str  # HTTP status, or "ok" / the Meteor error code


class DevServer:
    def __init__(
        self,
        seed: dict | str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rc_version: str = DEFAULT_RC_VERSION,
        state_path: Path | None = None,
        ping_interval: float = 25.0,
        widget_dir: str | Path | None = None,
        strict: bool | None = None,
    ) -> None:
        self.log = logging.getLogger("omnicat.devserver")
        self.strict = contracts.strict_mode(self.log, strict)  # issue 21
        self.host, self.port = host, port
        self.rc_version = str(rc_version or DEFAULT_RC_VERSION)
        parts = [*self.rc_version.split("."), "0", "0"][:3]
        self.rc_major = int(parts[0]) if parts[0].isdigit() else 8
        self.rc_version_full = ".".join(p if p.isdigit() else "0" for p in parts)
        self.state_path = Path(state_path) if state_path else None
        self.widget = Widget(widget_dir) if widget_dir else None
        self.state = State()
        self.livechat = Livechat(self.state)
        if self.state_path and self.state_path.exists():
            load_state(self.state, self.livechat, self.state_path)
        else:
            apply_seed(self.state, load_seed(seed))
        self.limits = RateLimits()
        self.calls: list[Call] = []
        self._calls_lock = threading.Lock()
        self.ddp = Hub(self, ping_interval)
        self.state.emit = self.ddp.publish
        self.rest = build_api(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v1/{path:.*}", self.rest.handle)
        app.router.add_get("/api/info", self._info)
        app.router.add_get("/websocket", self.ddp.handle)
        app.router.add_get("/file-upload/{fid}/{name:.*}", self._download)
        app.router.add_get("/avatar/{name:.+}", self._avatar)
        if self.widget is not None:
            self.widget.add_routes(app)
        return app

    async def _info(self, request: web.Request) -> web.Response:
        return await api_files.info(self.rest, request)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        return await api_files.download(self.rest, request)

    async def _avatar(self, request: web.Request) -> web.Response:
        return await api_files.avatar(self.rest, request)

    async def _start_async(self) -> None:
        self.ddp.loop = asyncio.get_running_loop()
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]

    def start(self) -> DevServer:
        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_async())
            except BaseException as e:
                self._error = e
                self._started.set()
                return
            self._started.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="devserver", daemon=True)
        self._thread.start()
        self._started.wait(30)
        if self._error:
            raise self._error
        return self

    async def _shutdown_async(self) -> None:
        await self.ddp.drop_all()
        if self._runner:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if self.state_path:
            save_state(self.state, self.livechat, self.state_path)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/websocket"

    def _on_loop(self, coro_or_fn: Any) -> Any:
        """Run on the server loop from a test thread and wait for the result."""
        if self._loop is None or not self._loop.is_running():
            return coro_or_fn() if callable(coro_or_fn) else None
        if callable(coro_or_fn):
            fn = coro_or_fn

            async def wrap() -> Any:
                return fn()

            coro_or_fn = wrap()
        return asyncio.run_coroutine_threadsafe(coro_or_fn, self._loop).result(15)

    # ---- Python test API -----------------------------------------------------------------------

    def _user(self, username: str) -> User:
        user = self.state.find_user(username)
        if user is None:
            raise KeyError(f"no user {username!r}")
        return user

    def login_token(self, username: str) -> tuple[str, str]:
        user = self._user(username)
        return user.id, self.state.new_token(user)

    def create_personal_access_token(self, username: str, name: str = "omnicat") -> tuple[str, str]:
        user = self._user(username)
        return user.id, self.state.new_token(user, "personalAccessToken", name)

    def add_user(
        self,
        username: str,
        password: str = "pass",
        *,
        name: str | None = None,
        email: str | None = None,
        roles: tuple[str, ...] | list[str] = ("user",),
        utc_offset: float = 0,
    ) -> str:
        return self.state.add_user(
            username, password, name=name, email=email, roles=roles, utc_offset=utc_offset
        )

    def user_id(self, username: str) -> str:
        return self._user(username).id

    def drop_all_sockets(self) -> int:
        return self._on_loop(self.ddp.drop_all())

    def pause_delivery(self) -> None:
        self._on_loop(self.ddp.pause)

    def resume_delivery(self) -> None:
        self.ddp.resume()

    def record(
        self, kind: str, name: str, user: User | None, params: Any, status: int | str
    ) -> None:
        if (kind == "ddp" and name == "login") or (kind == "rest" and name == "login"):
            params = "<redacted>"  # never keep passwords in the log
        with self._calls_lock:
            self.calls.append(
                Call(
                    kind,
                    name,
                    user.username if user else None,
                    wire(params, "rest") if not isinstance(params, str) else {},
                    status,
                )
            )

    def clear_calls(self) -> None:
        with self._calls_lock:
            self.calls.clear()

    def set_rate_limits(
        self,
        enabled: bool,
        *,
        rest_calls: int = 10,
        rest_window_ms: int = 60000,
        send_message_per_sec: int = 5,
        exempt_bots: bool = True,
    ) -> None:
        self.limits = RateLimits(
            enabled, rest_calls, rest_window_ms, send_message_per_sec, exempt_bots
        )

    def set_presence(self, username: str, status: str) -> None:
        self.state.set_status(self._user(username), status)

    def messages(self, rid: str) -> list[dict]:
        with self.state.lock:
            return wire(self.state.messages.get(rid, []), "rest")

    def room_by_name(self, name: str) -> dict | None:
        room = self.state.room_by_name(name)
        return wire(room, "rest") if room else None

    # ---- omnichannel test hooks (see docs/internals.md, "Dev server livechat") ----------------

    def set_setting(self, setting_id: str, value: Any) -> None:
        with self.state.lock:
            self.state.settings[setting_id] = value

    def setting(self, setting_id: str) -> Any:
        return self.state.settings.get(setting_id)

    def grant(self, permission: str, role: str) -> None:
        self.state.grant(permission, role)

    def revoke(self, permission: str, role: str) -> None:
        self.state.revoke(permission, role)

    def permission_roles(self, permission: str) -> list[str]:
        with self.state.lock:
            return list(self.state.permissions.get(permission, []))

    def set_roles(self, username: str, roles: list[str] | tuple[str, ...]) -> None:
        with self.state.lock:
            self._user(username).roles = list(roles)

    def set_livechat_status(self, username: str, status: str) -> None:
        if status not in ("available", "not-available"):
            raise ValueError("status must be 'available' or 'not-available'")
        self.livechat.set_status(self._user(username), status)

    def livechat_status(self, username: str) -> str:
        return self._user(username).status_livechat

    def set_business_hours_closed(self, closed: bool) -> None:
        self.livechat.set_business_hours_open(not closed)

    def add_department(
        self,
        dep_id: str,
        name: str,
        agents: list[str] | tuple[str, ...] = (),
        *,
        enabled: bool = True,
        request_tags: bool = False,
        closing_tags: list[str] | tuple[str, ...] = (),
    ) -> None:
        self.livechat.add_department(
            dep_id,
            name,
            agents,
            enabled=enabled,
            request_tags=request_tags,
            closing_tags=closing_tags,
        )

    def set_department_agents(self, dep_id: str, agents: list[str] | tuple[str, ...]) -> None:
        with self.state.lock:
            self.livechat.department_agents[dep_id] = [self._user(a).id for a in agents]

    def room(self, rid: str) -> dict | None:
        with self.state.lock:
            room = self.state.room(rid)
            return wire(room, "rest") if room else None

    def visitor_room(self, token: str) -> dict | None:
        """The visitor's open livechat room, REST shape."""
        with self.state.lock:
            room = self.livechat.open_room_of(token)
            return wire(room, "rest") if room else None

    def subscriptions(self, rid: str) -> list[dict]:
        with self.state.lock:
            return wire([s for (r, _), s in self.state.subs.items() if r == rid], "rest")

    def visitor_listening(self, rid: str) -> bool:
        """Whether a livechat widget (an accountless socket) reads the room's messages now."""
        room = self.state.room(rid)

        def check() -> bool:
            return room is not None and any(
                self.ddp._visitor_of(s, room)
                and any(
                    sub.name == "stream-room-messages" and sub.event == rid
                    for sub in s.subs.values()
                )
                for s in self.ddp.sessions
            )

        return bool(self._on_loop(check))

    def members_of(self, rid: str) -> list[str]:
        """Usernames subscribed to a room, sorted."""
        return sorted(s["u"]["username"] for s in self.subscriptions(rid))


def serve(
    host: str = "127.0.0.1",
    port: int = 3000,
    seed_path: str | Path | None = None,
    state_path: str | Path | None = None,
    rc_version: str | None = None,
    widget_dir: str | Path | None = None,
) -> None:
    """Blocking entry point for `omnicat devserver`; stops on SIGINT/SIGTERM."""
    server = DevServer(
        seed_path,
        host=host,
        port=port,
        rc_version=rc_version or DEFAULT_RC_VERSION,
        state_path=Path(state_path) if state_path else None,
        widget_dir=widget_dir,
    )
    # Handlers first: whoever reads the "on …" line may stop us at once, and must get a clean
    # stop (state file written), not the default death.
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    print(
        f"Rocket.Chat-compatible dev server on {server.url} (realtime {server.ws_url})", flush=True
    )
    if server.widget is not None:
        print(f"livechat widget on {server.url}/livechat", flush=True)
    try:
        wait_freezing_heap(done)
    finally:
        server.stop()


def wait_freezing_heap(done: threading.Event, every: float = 1.0) -> None:
    """Wait for `done`, moving what the server holds out of the cyclic collector's reach each
    `every` s. The dev server keeps every message for the life of the process; left in the
    collector's oldest generation, each full collection walks all of them: 50–200 ms with all
    clients' answers stalled, once every few thousand messages (`bench/latency.py --sweep`
    at 500 messages/s), which any client timing its round trips reads as the bot's. Frozen
    objects are still freed when their last reference goes. The young generations are
    collected first (cheap: only what is new), so a reference cycle dropped since the last
    freeze is freed rather than kept; only a cycle still in use at a freeze, dropped later,
    stays for good.
    `gc.freeze()` is process-wide: only for a process that is the dev server."""
    while not done.wait(every):
        gc.collect(1)
        gc.freeze()
