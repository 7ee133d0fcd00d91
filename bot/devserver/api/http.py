"""The one request and error layer of the dev server's REST API (`/api/v1/*`).

Routes are declared by the Rocket.Chat path template they answer (`users.info`,
`rooms.media/:rid`, `livechat/agent.info/:rid/:token`) in one module per API area, with the
`Routes` table below. `Rest.handle` is the single place every REST request passes: it matches
the template (an unknown path or method is the one not-found body, before any login check, as
RC's router answers), authenticates, rate-limits, parses the query the way RC's router does and
the body, calls `Rest.check_request` (the hook for a request validator), runs the handler and
writes JSON with `Content-Type: application/json`, RC's exact header.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from aiohttp import web

from .. import contracts
from ..dates import parse_date
from ..livechat_model import LivechatError
from ..model import BYPASS_ROLES, MeteorError, User, wire

if TYPE_CHECKING:
    from ..livechat import Livechat
    from ..server import DevServer
    from ..state import State


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("error"))
        self.status = status
        self.body = {"success": False, **body}
        self.headers = headers or {}


def failure(text: str) -> ApiError:
    """`API.v1.failure('text')`: 400 without errorType."""
    return ApiError(400, {"error": text})


def invalid(message: str) -> ApiError:
    """What RC's ajv validators answer: 400 `<message> [invalid-params]`."""
    return ApiError(400, {"error": f"{message} [invalid-params]", "errorType": "invalid-params"})


def not_found(text: str = "Resource not found") -> ApiError:
    """`API.v1.notFound()`; also what an unknown path or method gets here."""
    return ApiError(404, {"error": text})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None):
    """JSON with RC's exact `Content-Type: application/json` (aiohttp's helper adds a charset)."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def parse_query(raw: str) -> dict[str, Any]:
    """Lenient: rocketchat_API does not percent-encode; `k[]=a&k[]=b` become lists."""
    out: dict[str, Any] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = unquote_plus(key, errors="replace")
        value = unquote_plus(value, errors="replace")
        if key.endswith("[]"):
            out.setdefault(key[:-2], []).append(value)
        else:
            out[key] = value
    return out


@dataclass
class Req:
    """One REST request as a handler sees it: caller, merged query+body params, path params."""

    api: Rest
    request: web.Request
    user: User | None
    params: dict[str, Any]
    path: dict[str, str] = field(default_factory=dict)
    form_files: dict[str, Any] = field(default_factory=dict)

    @property
    def st(self) -> State:
        return self.api.state

    @property
    def lc(self) -> Livechat:
        return self.api.state.livechat

    @property
    def srv(self) -> DevServer:
        return self.api.srv

    def str(self, key: str, required: bool = False) -> str | None:
        value = self.params.get(key)
        if value is None or value == "":
            if required:
                raise invalid(f"must have required property '{key}'")
            return None
        return str(value)

    def int(self, key: str, default: int) -> int:
        try:
            return int(self.params.get(key, default))
        except (TypeError, ValueError):
            return default

    def bool(self, key: str, default: bool = False) -> bool:
        value = self.params.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1", "yes")

    def date(self, key: str) -> datetime | None:
        value = self.params.get(key)
        if value in (None, ""):
            return None
        text = str(value)
        # An unencoded "+00:00" arrives as " 00:00".
        parsed = parse_date(text) or parse_date(text.replace(" ", "+"))
        if parsed is None:
            raise failure(f'The "{key}" query parameter must be a valid date.')
        return parsed

    def page(self, items: list[Any], key: str) -> dict[str, Any]:
        """RC's `count`/`offset` pagination with `total`."""
        offset = max(0, self.int("offset", 0))
        count = self.int("count", 50)
        page = items[offset:] if count <= 0 else items[offset : offset + count]
        return {key: page, "count": len(page), "offset": offset, "total": len(items)}

    def need(self, *permissions: str) -> User:
        """`permissionsRequired` (all of them): a 403 before the handler does anything."""
        if self.user is None:
            raise self.api.unauthorized()
        if not all(self.st.has_permission(self.user, p) for p in permissions):
            raise self.api.forbidden()
        return self.user


Handler = Callable[[Req], Awaitable[dict[str, Any]] | dict[str, Any]]


@dataclass
class Route:
    method: str
    template: str  # RC's path template: "rooms.media/:rid"
    fn: Handler
    auth: bool

    @property
    def parts(self) -> list[str]:
        return self.template.split("/")

    @property
    def name(self) -> str:
        """The template up to its first path parameter: what the call log and limiter use."""
        return "/".join(p for p in self.parts[: self._first_param()])

    def _first_param(self) -> int:
        return next((i for i, p in enumerate(self.parts) if p.startswith(":")), len(self.parts))

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.parts):
            return None
        found: dict[str, str] = {}
        for want, got in zip(self.parts, segments, strict=True):
            if want.startswith(":"):
                if not got:
                    return None
                found[want[1:]] = got
            elif want != got:
                return None
        return found


class Routes:
    """One API area's routes, declared with decorators at module level."""

    def __init__(self) -> None:
        self.all: list[Route] = []

    def add(self, methods: str, template: str, fn: Handler, *, auth: bool = True) -> Handler:
        for m in methods.split(","):
            self.all.append(Route(m, template, fn, auth))
        return fn

    def route(self, methods: str, template: str, *, auth: bool = True):
        def deco(fn: Handler) -> Handler:
            return self.add(methods, template, fn, auth=auth)

        return deco

    def get(self, template: str, *, auth: bool = True):
        return self.route("GET", template, auth=auth)

    def post(self, template: str, *, auth: bool = True):
        return self.route("POST", template, auth=auth)


class Rest:
    """Dispatches `/api/v1/*` to the routes of every API area (see `api/__init__.py`)."""

    def __init__(self, server: DevServer, areas: list[Routes]) -> None:
        self.srv = server
        self.state = server.state
        self.routes = [r for area in areas for r in area.all]
        # Templates with more literal segments win (`livechat/room.join` before `livechat/:rid`).
        self.routes.sort(key=lambda r: -sum(not p.startswith(":") for p in r.parts))

    @property
    def pre8(self) -> bool:
        return self.srv.rc_major < 8

    def unauthorized(self) -> ApiError:
        body: dict[str, Any] = {"error": "You must be logged in to do this."}
        if self.pre8:
            body.update(status="error", message="You must be logged in to do this.")
        return ApiError(401, body)

    def forbidden(self) -> ApiError:
        code = "error-unauthorized" if self.pre8 else "error-forbidden"
        return ApiError(
            403, {"error": f"User does not have the permissions required for this action [{code}]"}
        )

    def authenticate(self, request: web.Request, *, cookies: bool = False) -> User | None:
        uid = request.headers.get("X-User-Id")
        token = request.headers.get("X-Auth-Token")
        if cookies and not (uid and token):
            q = parse_query(request.query_string)
            uid = request.cookies.get("rc_uid") or q.get("rc_uid")
            token = request.cookies.get("rc_token") or q.get("rc_token")
        return self.state.user_by_token(uid, token)

    def find_route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        segments = path.split("/")
        for route in self.routes:
            if route.method == method and (found := route.match(segments)) is not None:
                return route, found
        return None

    def check_request(
        self, request: web.Request, template: str, body: dict[str, Any], user: User | None
    ) -> None:
        """Every REST request passes here before its handler. In strict mode (issue 21) it is
        held to the validator Rocket.Chat publishes for its route (query for GET, parsed as
        Rocket.Chat's router parses it; body otherwise) and refused as Rocket.Chat refuses it."""
        if not self.srv.strict:
            return
        declared = contracts.route_template(request.match_info["path"])
        refusal = None
        if declared is not None:
            query = contracts.parse_query(request.query_string)
            refusal = contracts.check_rest(request.method, declared, query, body)
        contracts.note(request.method, declared or template, user and user.username, refusal)
        if refusal is not None:
            raise ApiError(400, refusal)

    async def handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        user: User | None = None
        status: int = 500
        params: dict[str, Any] = {}
        headers: dict[str, str] = {}
        name = path
        try:
            found = self.find_route(request.method, path)
            if found is None:
                raise not_found()
            route, path_params = found
            name = route.name
            user = self.authenticate(request)
            if route.auth and user is None:
                raise self.unauthorized()
            headers = self._rate_limit(request, name, user)
            query = parse_query(request.query_string)
            body, files = await self._body(request)
            self.check_request(request, route.template, body, user)
            params = {**query, **body}
            check_param_types(name, params)
            req = Req(self, request, user, params, path_params, files)
            result = route.fn(req)
            if hasattr(result, "__await__"):
                result = await result  # type: ignore[misc]
            status = 200
            out = {**wire(result, "rest"), "success": True}
        except ApiError as e:
            status, out = e.status, e.body
            headers.update(e.headers)
        except LivechatError as e:
            status, out = 400, {"success": False, "error": e.key}
        except MeteorError as e:
            status = 400
            out = {"success": False, "error": e.message, "errorType": e.error}
            if e.details:
                out["details"] = e.details
        except Exception:
            self.srv.log.exception("REST %s failed", path)
            status, out = 500, {"success": False, "error": "Internal server error"}
        self.srv.record("rest", name, user, params, status)
        return json_response(out, status, headers)

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
        body: dict[str, Any] = {}
        files: dict[str, Any] = {}
        if request.method in ("POST", "PUT", "DELETE") and request.can_read_body:
            ctype = request.content_type
            if ctype.startswith("multipart/") or ctype == "application/x-www-form-urlencoded":
                form = await request.post()
                for k, v in form.items():
                    if isinstance(v, web.FileField):
                        files[k] = {
                            "name": v.filename,
                            "type": v.content_type,
                            "data": v.file.read(),
                        }
                    else:
                        body[k] = v
            else:
                raw = await request.read()
                if raw.strip():
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        raise failure("Invalid JSON body") from None
                    if not isinstance(parsed, dict):
                        raise failure("Invalid body")
                    body = parsed
        return body, files

    def _rate_limit(self, request: web.Request, name: str, user: User | None) -> dict[str, str]:
        limits = self.srv.limits
        if not limits.enabled or name.startswith("dev."):
            return {}
        if user is not None and limits.exempt_bots and user.has_any(BYPASS_ROLES):
            return {}
        v = limits.rest.hit((request.method, name, request.remote))
        headers = {
            "X-RateLimit-Limit": str(v.limit),
            "X-RateLimit-Remaining": str(v.remaining),
            "X-RateLimit-Reset": str(v.reset_ms),
        }
        if not v.allowed:
            secs = max(1, round(v.time_to_reset_ms / 1000))
            raise ApiError(
                429,
                {
                    "error": "Error, too many requests. Please slow down. "
                    f"You must wait {secs} seconds before trying this endpoint again. "
                    "[error-too-many-requests]"
                },
                headers,
            )
        return headers


#: parameters Rocket.Chat's validators (ajv) require to be strings on every endpoint
STRING_PARAMS = frozenset(
    {
        "roomId",
        "rid",
        "roomName",
        "channel",
        "msgId",
        "messageId",
        "userId",
        "username",
        "text",
        "msg",
        "tmid",
        "alias",
        "emoji",
        "avatar",
        "name",
        "topic",
        "description",
    }
)
#: where a list of those strings is allowed too (posting one message to several rooms)
LIST_PARAMS = {"chat.postMessage": frozenset({"roomId", "channel"})}


def check_param_types(endpoint: str, params: dict[str, Any]) -> None:
    """Refuse a body whose ids or texts are not strings, as RC's validators do (400
    `invalid-params`), before a handler uses one as a key."""
    lists = LIST_PARAMS.get(endpoint, frozenset())
    for key in STRING_PARAMS & params.keys():
        value = params[key]
        if value is None or isinstance(value, str):
            continue
        if key in lists and isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        raise ApiError(
            400,
            {
                "error": "must be string [invalid-params]",
                "errorType": "invalid-params",
                "details": {"param": key},
            },
        )
