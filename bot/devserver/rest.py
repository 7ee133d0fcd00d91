"""REST `/api/v1/*` with Rocket.Chat 8.x shapes (and pre-8 bodies with `rc_version` < 8)."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from aiohttp import web

from bot.rocketchat.models import parse_date

from . import contracts
from .livechat import LivechatError
from .state import BYPASS_ROLES, MeteorError, User, now, random_id, wire

if TYPE_CHECKING:
    from .server import DevServer


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


def not_found() -> ApiError:
    return ApiError(404, {"error": "Resource not found"})


@dataclass
class Req:
    request: web.Request
    user: User | None
    params: dict[str, Any]
    args: list[str]
    form_files: dict[str, Any] = field(default_factory=dict)

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


Handler = Callable[[Req], Awaitable[dict[str, Any]] | dict[str, Any]]

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


class Rest:
    def __init__(self, server: DevServer) -> None:
        self.srv = server
        self.state = server.state
        self.routes: dict[tuple[str, str], tuple[Handler, bool]] = {}
        self.names: set[str] = set()
        self._register()
        from . import livechat_rest, membership, settings

        livechat_rest.register(self)
        membership.register(self)
        settings.register(self)

    # ---- plumbing ----------------------------------------------------------------------------

    def route(self, methods: str, name: str, auth: bool = True):
        def deco(fn: Handler) -> Handler:
            for m in methods.split(","):
                self.routes[(m, name)] = (fn, auth)
            self.names.add(name)
            return fn

        return deco

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

    async def handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        name, *args = path.split("/")
        if args and f"{name}/{args[0]}" in self.names:
            # Two-part routes (`livechat/room`, `method.call/:method` stays one-part).
            name, args = f"{name}/{args[0]}", args[1:]
        entry = self.routes.get((request.method, name))
        user: User | None = None
        status: int = 500
        params: dict[str, Any] = {}
        headers: dict[str, str] = {}
        try:
            if entry is None:
                if name in self.names:
                    raise ApiError(405, {"error": "Method not allowed"})
                raise ApiError(404, {"error": "Not found"})
            fn, auth = entry
            user = self.authenticate(request)
            if auth and user is None:
                raise self.unauthorized()
            headers = self._rate_limit(request, name, user)
            params, files = await self._params(request)
            if self.srv.strict:  # issue 21: Rocket.Chat's published validator for this route
                refusal = self._contract_refusal(request, path, name, args, user)
                if refusal is not None:
                    raise ApiError(400, refusal)
            check_param_types(name, params)
            req = Req(request, user, params, args, files)
            result = fn(req)
            if hasattr(result, "__await__"):
                result = await result  # type: ignore[misc]
            status = 200
            body = {**wire(result, "rest"), "success": True}
        except ApiError as e:
            status, body = e.status, e.body
            headers.update(e.headers)
        except LivechatError as e:
            status, body = 400, {"success": False, "error": e.key}
        except MeteorError as e:
            status = 400
            body = {"success": False, "error": f"{e.reason} [{e.error}]", "errorType": e.error}
            if e.details:
                body["details"] = e.details
        except Exception:
            self.srv.log.exception("REST %s failed", path)
            status, body = 500, {"success": False, "error": "Internal server error"}
        self.srv.record("rest", name, user, params, status)
        return web.json_response(body, status=status, headers=headers)

    def _contract_refusal(
        self, request: web.Request, path: str, name: str, args: list[str], user: User | None
    ) -> dict[str, Any] | None:
        template = contracts.route_template(path)
        refusal = None
        if template is not None:
            query = contracts.parse_query(request.query_string)
            refusal = contracts.check_rest(request.method, template, query, request.get("body"))
        route = template or "/".join([name, *(":param" for _ in args)])
        contracts.note(request.method, route, user.username if user else None, refusal)
        return refusal

    async def _params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Any]]:
        params: dict[str, Any] = parse_query(request.query_string)
        files: dict[str, Any] = {}
        body: dict[str, Any] = {}
        request["body"] = body  # the body alone, as Rocket.Chat's validators see it
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
                        params[k] = body[k] = v
            else:
                raw = await request.read()
                if raw.strip():
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        raise failure("Invalid JSON body") from None
                    if not isinstance(parsed, dict):
                        raise failure("Invalid body")
                    body.update(parsed)
                    params.update(parsed)
        return params, files

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

    # ---- shared lookups ----------------------------------------------------------------------

    def _room_for(
        self, req: Req, kinds: str, *, id_key: str = "roomId", name_key: str = "roomName"
    ) -> dict:
        rid, name = req.str(id_key), req.str(name_key)
        if not rid and not name:
            raise ApiError(
                400,
                {
                    "error": 'The parameter "roomId" or "roomName" is required '
                    "[error-room-param-not-provided]",
                    "errorType": "error-room-param-not-provided",
                },
            )
        room = self.state.room(rid) if rid else self.state.room_by_name(name)
        if room is None or room["t"] not in kinds:
            raise MeteorError(
                "error-room-not-found",
                'The required "roomId" or "roomName" param provided does not match any group'
                if "p" in kinds
                else 'The required "roomId" or "roomName" param provided '
                "does not match any channel",
            )
        if room["t"] != "c" and not self.state.can_access(req.user, room):
            # RC's groups.* answer a non-member exactly like a missing group; REST media/info 403.
            raise MeteorError(
                "error-room-not-found",
                'The required "roomId" or "roomName" param provided does not match any group',
            )
        return room

    def _any_room(self, req: Req, rid: str | None) -> dict:
        room = self.state.room(rid)
        if room is None:
            raise MeteorError(
                "error-room-not-found",
                'The required "roomId" param provided does not match any room',
            )
        if not self.state.can_access(req.user, room):
            raise self.forbidden()
        return room

    def _target_user(self, req: Req) -> User:
        user = self.state.find_user(req.str("userId") or req.str("username"))
        if user is None:
            raise MeteorError("error-invalid-user", "Invalid user")
        return user

    def _page(self, req: Req, items: list[Any], key: str) -> dict[str, Any]:
        offset = max(0, req.int("offset", 0))
        count = req.int("count", 50)
        page = items[offset:] if count <= 0 else items[offset : offset + count]
        return {key: page, "count": len(page), "offset": offset, "total": len(items)}

    def _file_doc(self, f: dict) -> dict:
        return {k: v for k, v in f.items() if k != "data"}

    # ---- routes ------------------------------------------------------------------------------

    def _register(self) -> None:
        st, R = self.state, self.route

        @R("POST", "login", auth=False)
        def login(req: Req) -> dict:
            p = req.params
            user: User | None = None
            if p.get("resume"):
                user = st.user_by_resume(str(p["resume"]))
            else:
                key = p.get("user") or p.get("username") or p.get("email")
                if isinstance(key, dict):
                    key = key.get("username") or key.get("email")
                password = p.get("password", p.get("pass"))
                candidate = st.find_user(key if isinstance(key, str) else None)
                if st.check_password(candidate, password):
                    user = candidate
            if user is None:
                body: dict[str, Any] = {"error": "unauthorized"}
                if self.pre8:
                    body.update(status="error", error="Unauthorized", message="Unauthorized")
                raise ApiError(401, body)
            req.user = user
            token = str(p["resume"]) if p.get("resume") else st.new_token(user)
            return {
                "status": "success",
                "data": {"userId": user.id, "authToken": token, "me": user.doc(me=True)},
            }

        @R("POST,GET", "logout")
        def logout(req: Req) -> dict:
            req.user.tokens.pop(req.request.headers.get("X-Auth-Token", ""), None)
            return {"status": "success", "data": {"message": "You've been logged out!"}}

        @R("GET", "me")
        def me(req: Req) -> dict:
            return req.user.doc(me=True)

        @R("GET", "users.info")
        def users_info(req: Req) -> dict:
            key = (
                req.str("userId") or req.str("username") or req.str("email") or req.str("importId")
            )
            if not key:
                raise invalid("must match exactly one schema in oneOf")
            user = st.find_user(key)
            if user is None:
                raise failure("User not found.")
            doc = user.doc()
            if req.bool("includeUserRooms"):
                doc["rooms"] = [s for (_, uid), s in st.subs.items() if uid == user.id]
            return {"user": doc}

        @R("GET", "users.list")
        def users_list(req: Req) -> dict:
            return self._page(req, [u.doc() for u in st.users.values()], "users")

        @R("GET", "users.getPresence")
        def users_presence(req: Req) -> dict:
            user = (
                st.find_user(req.str("userId") or req.str("username"))
                if (req.str("userId") or req.str("username"))
                else req.user
            )
            if user is None:
                raise MeteorError("error-invalid-user", "Invalid user")
            return {
                "presence": user.status,
                "connectionStatus": "online" if user.connections else "offline",
                "lastLogin": user.created_at,
            }

        @R("POST", "users.setStatus")
        def users_set_status(req: Req) -> dict:
            target = req.user
            if req.str("userId") or req.str("username"):
                target = self._target_user(req)
                if target.id != req.user.id and "admin" not in req.user.roles:
                    raise self.forbidden()
            status = req.str("status")
            if status is None and req.params.get("message") is None:
                raise invalid("must have required property 'status'")
            msg = req.params.get("message")
            st.set_status(
                target, status or target.status, text=str(msg) if msg is not None else None
            )
            return {}

        @R("POST", "users.createToken")
        def users_create_token(req: Req) -> dict:
            target = (
                self._target_user(req) if (req.str("userId") or req.str("username")) else req.user
            )
            if target.id != req.user.id and "admin" not in req.user.roles:
                raise self.forbidden()
            return {"data": {"userId": target.id, "authToken": st.new_token(target)}}

        @R("POST", "users.generatePersonalAccessToken")
        def users_pat(req: Req) -> dict:
            name = req.str("tokenName", required=True)
            if any(
                t["name"] == name
                for t in req.user.tokens.values()
                if t["type"] == "personalAccessToken"
            ):
                raise MeteorError(
                    "error-token-already-exists", "A token with this name already exists"
                )
            return {"token": st.new_token(req.user, "personalAccessToken", name)}

        @R("GET", "users.getPersonalAccessTokens")
        def users_pats(req: Req) -> dict:
            return {
                "tokens": [
                    {
                        "name": t["name"],
                        "createdAt": t["when"],
                        "lastTokenPart": tok[-6:],
                        "bypassTwoFactor": False,
                    }
                    for tok, t in req.user.tokens.items()
                    if t["type"] == "personalAccessToken"
                ]
            }

        def dm_create(req: Req) -> dict:
            names = req.str("username") or req.str("usernames")
            if not names:
                raise invalid("must have required property 'username'")
            others = []
            for n in names.split(","):
                u = st.find_user(n.strip())
                if u is None:
                    raise MeteorError(
                        "error-invalid-user", "Invalid user", {"method": "createDirectMessage"}
                    )
                others.append(u)
            if req.bool("excludeSelf"):
                others = [u for u in others if u.id != req.user.id]
            room = st.direct_room(req.user, others)
            return {"room": {**room, "rid": room["_id"]}}

        R("POST", "dm.create")(dm_create)
        R("POST", "im.create")(dm_create)

        def history(kinds: str):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                if not st.can_access(req.user, room):
                    raise self.forbidden()
                msgs = st.history(
                    room["_id"],
                    oldest=req.date("oldest"),
                    latest=req.date("latest"),
                    inclusive=req.bool("inclusive"),
                    show_threads=req.bool("showThreadMessages", True),
                )
                page = self._page(req, msgs, "messages")
                out: dict[str, Any] = {"messages": page["messages"]}
                if req.bool("unreads"):
                    sub = st.sub(room["_id"], req.user.id)
                    out["unreadNotLoaded"] = 0
                    out["firstUnread"] = None
                    if sub:
                        out["unreadNotLoaded"] = max(0, sub["unread"] - len(page["messages"]))
                return out

            return fn

        R("GET", "groups.history")(history("p"))
        R("GET", "channels.history")(history("c"))
        R("GET", "dm.history")(history("d"))
        R("GET", "im.history")(history("d"))

        def messages(kinds: str):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                return self._page(req, st.history(room["_id"]), "messages")

            return fn

        R("GET", "channels.messages")(messages("c"))
        R("GET", "groups.messages")(messages("p"))
        R("GET", "dm.messages")(messages("d"))

        def resolve_channel(req: Req, channel: str) -> dict:
            if channel.startswith("@"):
                other = st.find_user(channel[1:])
                if other is None:
                    raise MeteorError("error-invalid-user", "Invalid user")
                return st.direct_room(req.user, [other])
            room = (
                st.room_by_name(channel)
                if channel.startswith("#")
                else (st.room(channel) or st.room_by_name(channel))
            )
            if room is None:
                raise MeteorError("error-invalid-channel", "Invalid channel")
            return room

        MSG_FIELDS = (
            "alias",
            "emoji",
            "avatar",
            "attachments",
            "tmid",
            "tshow",
            "customFields",
            "blocks",
            "parseUrls",
        )

        @R("POST", "chat.postMessage")
        def chat_post(req: Req) -> dict:
            target = req.params.get("roomId") or req.params.get("channel")
            if not target:
                raise MeteorError("error-invalid-channel", "Invalid channel")
            targets = target if isinstance(target, list) else [target]
            fields = {k: req.params[k] for k in MSG_FIELDS if k in req.params and k != "parseUrls"}
            fields["msg"] = str(req.params.get("text") or req.params.get("msg") or "")
            msg = None
            for t in targets:
                room = st.room(t) if req.params.get("roomId") else resolve_channel(req, str(t))
                if room is None:
                    raise MeteorError("error-invalid-channel", "Invalid channel")
                msg = st.post_message(req.user, room, fields)
            return {"ts": int(msg["ts"].timestamp() * 1000), "channel": target, "message": msg}

        @R("POST", "chat.sendMessage")
        def chat_send(req: Req) -> dict:
            m = req.params.get("message")
            if not isinstance(m, dict) or not m.get("rid"):
                raise invalid("must have required property 'rid'")
            if m.get("t"):
                raise MeteorError("error-invalid-params", "Invalid params")
            room = st.room(m["rid"])
            if room is None:
                raise MeteorError("error-invalid-room", "Invalid room")
            fields = {k: m[k] for k in ("_id", "msg", *MSG_FIELDS) if k in m}
            return {"message": st.post_message(req.user, room, fields)}

        def message_in(req: Req, id_key: str = "msgId") -> dict:
            mid = req.str(id_key, required=True)
            msg = st.find_message(mid)
            if msg is None:
                raise failure(f'No message found with the id of "{mid}".')
            if req.str("roomId") and req.str("roomId") != msg["rid"]:
                raise failure("The room id provided does not match where the message is from.")
            if not st.can_access(req.user, st.room(msg["rid"])):
                raise self.forbidden()
            return msg

        @R("POST", "chat.update")
        def chat_update(req: Req) -> dict:
            req.str("roomId", required=True)
            msg = message_in(req)
            text = req.params.get("text")
            if not isinstance(text, str):
                raise invalid("must have required property 'text'")
            extra = {k: req.params[k] for k in ("customFields", "attachments") if k in req.params}
            return {"message": st.update_message(req.user, msg, text, **extra)}

        @R("POST", "chat.delete")
        def chat_delete(req: Req) -> dict:
            msg = message_in(req)
            st.delete_message(req.user, msg)
            return {
                "_id": msg["_id"],
                "ts": str(int(now().timestamp() * 1000)),
                "message": {"_id": msg["_id"], "rid": msg["rid"], "u": msg["u"]},
            }

        @R("GET", "chat.getMessage")
        def chat_get(req: Req) -> dict:
            return {"message": message_in(req)}

        @R("POST", "chat.react")
        def chat_react(req: Req) -> dict:
            msg = message_in(req, "messageId")
            st.react(
                req.user,
                msg,
                req.str("emoji") or req.str("reaction") or ":smile:",
                req.params.get("shouldReact"),
            )
            return {}

        @R("GET", "chat.search")
        def chat_search(req: Req) -> dict:
            room = self._any_room(req, req.str("roomId", required=True))
            needle = (req.str("searchText") or "").lower()
            found = [
                m
                for m in st.history(room["_id"])
                if needle in m.get("msg", "").lower() and "t" not in m
            ]
            return {"messages": self._page(req, found, "messages")["messages"]}

        def create(kind: str, key: str):
            def fn(req: Req) -> dict:
                name = req.str("name", required=True)
                members = req.params.get("members") or []
                if isinstance(members, str):
                    members = [m for m in members.split(",") if m]
                owner = None if req.bool("excludeSelf") else req.user
                room = st.create_room(kind, name, owner, members, read_only=req.bool("readOnly"))
                if owner is None:
                    room["u"] = {"_id": req.user.id, "username": req.user.username}
                return {key: room}

            return fn

        R("POST", "groups.create")(create("p", "group"))
        R("POST", "channels.create")(create("c", "channel"))

        # What RC's underlying methods throw when the caller may not manage the room (all 400).
        REFUSALS = {
            "invite": ("error-not-allowed", "Not allowed"),
            "kick": ("error-not-allowed", "Not allowed"),
            "archive": ("error-not-authorized", "Not authorized"),
            "topic": ("error-action-not-allowed", "Editing room is not allowed"),
        }

        def manage(req: Req, room: dict, action: str) -> None:
            if not (st.is_owner(req.user, room) or "admin" in req.user.roles):
                raise MeteorError(*REFUSALS[action])

        def invite(kinds: str, key: str):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                manage(req, room, "invite")
                ids = req.params.get("userIds") or req.params.get("usernames")
                targets = (
                    [st.find_user(i) for i in ids]
                    if isinstance(ids, list)
                    else [self._target_user(req)]
                )
                if any(t is None for t in targets):
                    raise MeteorError("error-invalid-user", "Invalid user")
                for t in targets:
                    st.add_member(room, t, req.user, "au")
                return {key: room}

            return fn

        R("POST", "groups.invite")(invite("p", "group"))
        R("POST", "channels.invite")(invite("c", "channel"))

        def kick(kinds: str):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                manage(req, room, "kick")
                st.remove_member(room, self._target_user(req), req.user, "ru")
                return {}

            return fn

        R("POST", "groups.kick")(kick("p"))
        R("POST", "channels.kick")(kick("c"))

        def leave(kinds: str):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                st.remove_member(room, req.user, None, "ul")
                return {}

            return fn

        R("POST", "groups.leave")(leave("p"))
        R("POST", "channels.leave")(leave("c"))

        def info(kinds: str, key: str):
            def fn(req: Req) -> dict:
                return {key: self._room_for(req, kinds)}

            return fn

        R("GET", "groups.info")(info("p", "group"))
        R("GET", "channels.info")(info("c", "channel"))

        def members(kinds: str):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                docs = [
                    {
                        "_id": u.id,
                        "username": u.username,
                        "name": u.name,
                        "status": u.status,
                        "utcOffset": u.utc_offset,
                    }
                    for u in st.members(room["_id"])
                ]
                return self._page(req, docs, "members")

            return fn

        R("GET", "groups.members")(members("p"))
        R("GET", "channels.members")(members("c"))

        def files(kinds: str):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                docs = [
                    self._file_doc(f)
                    for f in st.files.values()
                    if f["rid"] == room["_id"] and f.get("complete")
                ]
                return self._page(req, docs, "files")

            return fn

        R("GET", "groups.files")(files("p"))
        R("GET", "channels.files")(files("c"))
        R("GET", "dm.files")(files("d"))

        def archive(kinds: str, flag: bool):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                manage(req, room, "archive")
                if bool(room.get("archived")) == flag:
                    raise MeteorError(
                        "error-room-archived" if flag else "error-room-not-archived",
                        "Room is archived" if flag else "Room is not archived",
                    )
                st.system_message(
                    room, req.user, "room-archived" if flag else "room-unarchived", ""
                )
                st.update_room(room, archived=flag)
                for (rid, _), sub in st.subs.items():
                    if rid == room["_id"]:
                        sub["archived"] = flag
                return {}

            return fn

        R("POST", "groups.archive")(archive("p", True))
        R("POST", "groups.unarchive")(archive("p", False))
        R("POST", "channels.archive")(archive("c", True))
        R("POST", "channels.unarchive")(archive("c", False))

        def set_topic(kinds: str):
            def fn(req: Req) -> dict:
                room = self._room_for(req, kinds)
                manage(req, room, "topic")
                topic = str(req.params.get("topic") or "")
                st.update_room(room, topic=topic)
                st.system_message(room, req.user, "room_changed_topic", topic)
                return {"topic": topic}

            return fn

        R("POST", "groups.setTopic")(set_topic("p"))
        R("POST", "channels.setTopic")(set_topic("c"))

        @R("POST", "channels.join")
        def channels_join(req: Req) -> dict:
            room = self._room_for(req, "c")
            st.add_member(room, req.user, None, "uj")
            return {"channel": room}

        @R("GET", "rooms.info")
        def rooms_info(req: Req) -> dict:
            rid = req.str("roomId")
            room = st.room(rid) if rid else st.room_by_name(req.str("roomName"))
            if room is None or not st.can_access(req.user, room):
                raise failure("not-allowed")
            return {"room": room}

        @R("GET", "rooms.get")
        def rooms_get(req: Req) -> dict:
            rooms = [st.rooms[rid] for (rid, uid) in st.subs if uid == req.user.id]
            return {"update": rooms, "remove": []}

        @R("POST", "rooms.leave")
        def rooms_leave(req: Req) -> dict:
            room = self._any_room(req, req.str("roomId", required=True))
            st.remove_member(room, req.user, None, "ul")
            return {}

        @R("POST", "rooms.media")
        def rooms_media(req: Req) -> dict:
            rid = req.args[0] if req.args else None
            room = self._any_room(req, rid)
            up = req.form_files.get("file")
            if not up:
                raise MeteorError("invalid-field", "File required")
            fid = random_id()
            st.files[fid] = {
                "_id": fid,
                "name": up["name"] or "file",
                "type": up["type"] or "application/octet-stream",
                "size": len(up["data"]),
                "rid": room["_id"],
                "userId": req.user.id,
                "uploadedAt": now(),
                "url": f"/file-upload/{fid}/{up['name'] or 'file'}",
                "complete": False,
                "data": up["data"],
            }
            return {"file": {"_id": fid, "url": st.files[fid]["url"]}}

        @R("POST", "rooms.mediaConfirm")
        def rooms_media_confirm(req: Req) -> dict:
            if len(req.args) < 2:
                raise not_found()
            room = self._any_room(req, req.args[0])
            f = st.files.get(req.args[1])
            if f is None or f["rid"] != room["_id"] or f["userId"] != req.user.id:
                raise MeteorError("error-file-not-found", "File not found")
            if f.get("complete"):
                raise MeteorError("error-file-already-confirmed", "File already confirmed")
            if req.str("fileName"):
                f["name"] = req.str("fileName")
                f["url"] = f"/file-upload/{f['_id']}/{f['name']}"
            f["complete"] = True
            return {"message": self._file_message(req, room, f)}

        @R("POST", "rooms.upload")
        def rooms_upload(req: Req) -> dict:
            if self.srv.rc_major >= 8:  # removed in 8.0.0 (deprecated since 6.10)
                raise not_found()
            media = rooms_media(req)
            f = st.files[media["file"]["_id"]]
            f["complete"] = True
            return {"message": self._file_message(req, st.rooms[f["rid"]], f)}

        @R("GET", "subscriptions.get")
        def subscriptions_get(req: Req) -> dict:
            since = req.date("updatedSince")
            subs = [
                s
                for (_, uid), s in st.subs.items()
                if uid == req.user.id and (since is None or s["_updatedAt"] > since)
            ]
            gone = [
                {"_id": g["_id"], "_deletedAt": g["_deletedAt"]}
                for g in st.removed_subs
                if g["u"]["_id"] == req.user.id and (since is None or g["_deletedAt"] > since)
            ]
            return {"update": subs, "remove": gone if since else []}

        @R("GET", "subscriptions.getOne")
        def subscriptions_get_one(req: Req) -> dict:
            return {"subscription": st.sub(req.str("roomId", required=True), req.user.id)}

        @R("POST", "subscriptions.read")
        def subscriptions_read(req: Req) -> dict:
            room = self._any_room(req, req.str("rid") or req.str("roomId"))
            st.mark_read(req.user, room)
            return {}

        @R("GET", "permissions.listAll")
        def permissions_list(req: Req) -> dict:
            since = req.date("updatedSince")
            if since and since >= st.permissions_updated:
                return {"update": [], "remove": []}
            with st.lock:
                table = sorted(st.permissions.items())
            return {
                "update": [
                    {"_id": p, "roles": list(r), "_updatedAt": st.permissions_updated}
                    for p, r in table
                ],
                "remove": [],
            }

        @R("POST", "permissions.update")
        def permissions_update(req: Req) -> dict:
            """RC's `permissions.update {permissions:[{_id, roles}]}` (access-permissions)."""
            if not st.has_permission(req.user, "access-permissions"):
                raise self.forbidden()
            items = req.params.get("permissions")
            if not isinstance(items, list) or not all(
                isinstance(p, dict)
                and isinstance(p.get("_id"), str)
                and isinstance(p.get("roles"), list)
                and all(isinstance(r, str) for r in p["roles"])
                for p in items
            ):
                raise failure("Invalid body params")
            with st.lock:
                if any(p["_id"] not in st.permissions for p in items):
                    raise failure("Invalid permission")
                for p in items:
                    st.permissions[p["_id"]] = list(dict.fromkeys(p["roles"]))
                st.permissions_updated = now()
                table = sorted(st.permissions.items())
            return {"permissions": [{"_id": k, "roles": list(v)} for k, v in table]}

        @R("GET", "roles.list")
        def roles_list(req: Req) -> dict:
            from .seed import ROLES

            return {
                "roles": [
                    {
                        "_id": r,
                        "name": r,
                        "description": d,
                        "scope": s,
                        "protected": True,
                        "mandatory2fa": False,
                    }
                    for r, (s, d) in ROLES.items()
                ]
            }

        # ---- dev.* test hooks (admin only; a real server has none of these) ----

        def admin(req: Req) -> None:
            if "admin" not in req.user.roles:
                raise self.forbidden()

        @R("POST", "dev.dropSockets")
        async def dev_drop(req: Req) -> dict:
            admin(req)
            return {"dropped": await self.srv.ddp.drop_all()}

        @R("GET", "dev.calls")
        def dev_calls(req: Req) -> dict:
            admin(req)
            return {"calls": [c.__dict__ for c in self.srv.calls]}

        @R("POST", "dev.clearCalls")
        def dev_clear(req: Req) -> dict:
            admin(req)
            self.srv.clear_calls()
            return {}

        @R("POST", "dev.pause")
        def dev_pause(req: Req) -> dict:
            admin(req)
            self.srv.ddp.pause()
            return {}

        @R("POST", "dev.resume")
        def dev_resume(req: Req) -> dict:
            admin(req)
            self.srv.ddp.resume()
            return {}

        @R("POST", "dev.rateLimits")
        def dev_rate(req: Req) -> dict:
            admin(req)
            self.srv.set_rate_limits(
                req.bool("enabled"),
                rest_calls=req.int("rest_calls", 10),
                rest_window_ms=req.int("rest_window_ms", 60000),
                send_message_per_sec=req.int("send_message_per_sec", 5),
                exempt_bots=req.bool("exempt_bots", True),
            )
            return {}

        @R("POST", "dev.businessHours")
        def dev_business_hours(req: Req) -> dict:
            admin(req)
            self.srv.set_business_hours_closed(req.bool("closed"))
            return {}

        @R("POST", "dev.setPresence")
        def dev_presence(req: Req) -> dict:
            admin(req)
            self.srv.set_presence(
                req.str("username", required=True), req.str("status", required=True)
            )
            return {}

    def _file_message(self, req: Req, room: dict, f: dict) -> dict:
        msg = self.state.post_message(req.user, room, self.file_fields(req, f))
        f["messageId"] = msg["_id"]
        return msg

    def file_fields(self, req: Req, f: dict) -> dict[str, Any]:
        """The `file`, `files` and `attachments` of the message announcing an upload."""
        desc = req.str("description") or ""
        att: dict[str, Any] = {
            "ts": now(),
            "title": f["name"],
            "title_link": f["url"],
            "title_link_download": True,
            "type": "file",
            "description": desc,
            "format": f["name"].rsplit(".", 1)[-1].upper() if "." in f["name"] else "",
            "size": f["size"],
        }
        if f["type"].startswith("image/"):
            att.update(image_url=f["url"], image_type=f["type"], image_size=f["size"])
        fields: dict[str, Any] = {
            "msg": req.str("msg") or "",
            "file": {
                "_id": f["_id"],
                "name": f["name"],
                "type": f["type"],
                "size": f["size"],
                "format": att["format"],
            },
            "files": [
                {
                    "_id": f["_id"],
                    "name": f["name"],
                    "type": f["type"],
                    "size": f["size"],
                    "format": att["format"],
                }
            ],
            "attachments": [att],
        }
        if req.str("tmid"):
            fields["tmid"] = req.str("tmid")
        return fields

    async def download(self, request: web.Request) -> web.StreamResponse:
        user = self.authenticate(request, cookies=True)
        f = self.state.files.get(request.match_info["fid"])
        if f is None:
            return web.Response(status=404)
        # RC's FileUpload.requestCanAccessFiles: no valid token or no room access is a bare 403.
        if user is None or not self.state.can_access(user, self.state.room(f["rid"])):
            return web.Response(status=403)
        self.srv.record("rest", "file-upload", user, {"fileId": f["_id"]}, 200)
        return web.Response(
            body=f["data"],
            content_type=f["type"],
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{f['name']}",
                "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
            },
        )

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response({"version": self.srv.rc_version_full, "success": True})
